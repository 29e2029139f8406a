"""The Invitation aggregate: one per guest per event, on the guest's shard.

Holding the RSVP here (not on the CalendarEvent) is what keeps RSVPs from ever
contending with each other or with the organizer's edits. The fan-out worker keeps
`summary` (what the inbox shows) and `listing` (what the guest's calendar shows,
`EventState.listing`) in step with the event, so the guest's views are built from
aggregates on the guest's own shard; `event_version` makes each update idempotent.
Invitation events stored before `listing` existed have None there (README: Upgrading).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError


class InvitationWithdrawnError(DomainError):
    """The guest is no longer invited (uninvited, or the event was cancelled)."""


class Invitation(Aggregate):
    TOPIC = "calendar:Invitation"

    class Created(Aggregate.Created):
        """Unused; the library wants every event class of the aggregate named."""

        TOPIC = "calendar:Invitation.Created"

    @staticmethod
    def create_id(event_id: UUID, guest_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"invitation:{event_id}:{guest_id}")

    @event("Extended", topic="calendar:Invitation.Extended")
    def __init__(
        self, event_id: UUID, guest_id: UUID, organizer_id: UUID,
        summary: dict[str, Any], event_version: int, listing: dict[str, Any] | None = None,
    ) -> None:
        self.event_id = event_id
        self.guest_id = guest_id
        self.organizer_id = organizer_id
        self.summary = summary
        self.listing = listing
        self.event_version = event_version
        self.rsvp_status = "pending"
        self.active = True

    def is_behind(self, event_version: int) -> bool:
        return event_version > self.event_version

    def change_summary(self, summary: dict[str, Any], event_version: int,
                       listing: dict[str, Any] | None = None) -> None:
        self._summary_changed(summary, event_version, listing, self.event_id, self.guest_id)

    @event("SummaryChanged", topic="calendar:Invitation.SummaryChanged")
    def _summary_changed(self, summary: dict[str, Any], event_version: int,
                         listing: dict[str, Any] | None = None, event_id: UUID | None = None,
                         guest_id: UUID | None = None) -> None:
        self.summary = summary
        self.listing = listing
        self.event_version = event_version

    @event("Withdrawn", topic="calendar:Invitation.Withdrawn")
    def withdraw(self, reason: str, event_version: int) -> None:
        self.active = False
        self.event_version = event_version

    def renew(self, summary: dict[str, Any], event_version: int,
              listing: dict[str, Any] | None = None) -> None:
        """Invited again after being uninvited: a fresh, unanswered invitation."""
        self._renewed(summary, event_version, self.event_id, self.guest_id, listing)

    @event("Renewed", topic="calendar:Invitation.Renewed")
    def _renewed(self, summary: dict[str, Any], event_version: int, event_id: UUID,
                 guest_id: UUID, listing: dict[str, Any] | None = None) -> None:
        self.active = True
        self.rsvp_status = "pending"
        self.summary = summary
        self.listing = listing
        self.event_version = event_version

    def respond(self, status: str) -> None:
        if not self.active:
            raise InvitationWithdrawnError("this invitation was withdrawn")
        self._responded(status, self.event_id, self.guest_id)

    @event("Responded", topic="calendar:Invitation.Responded")
    def _responded(self, status: str, event_id: UUID, guest_id: UUID) -> None:
        self.rsvp_status = status
