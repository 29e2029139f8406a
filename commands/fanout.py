"""The fan-out process manager: keeps each guest's Invitation (on the guest's shard) in
step with the event. Idempotent without a distributed transaction: invitation ids are
deterministic and every change is guarded by the event version it reflects, so a
redelivered domain event changes nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from commands.service import CalendarStores, NotFoundError
from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation

RETRIES = 5


class InvitationFanout:
    name = "fanout"

    def __init__(self, stores: CalendarStores) -> None:
        self.stores = stores

    def handles(self, event: DomainEventProtocol[Any]) -> bool:
        return isinstance(event, CalendarEvent.Event)

    def process(self, domain_event: DomainEventProtocol[Any]) -> None:
        if not self.handles(domain_event):
            return
        version = domain_event.originator_version
        shard = self.stores.event_shard(domain_event.originator_id)
        event: CalendarEvent = shard.repository.get(domain_event.originator_id, version=version)
        assert isinstance(event, CalendarEvent)
        for guest_id in _touched_guests(domain_event, event):
            self._sync(event, UUID(guest_id), version)

    def _sync(self, event: CalendarEvent, guest_id: UUID, version: int) -> None:
        for _ in range(RETRIES):
            try:
                return self._sync_once(event, guest_id, version)
            except IntegrityError:
                continue  # a concurrent RSVP or a duplicate delivery; look again

    def _sync_once(self, event: CalendarEvent, guest_id: UUID, version: int) -> None:
        shard = self.stores.user_shard(guest_id)
        invited = str(guest_id) in event.guests and not event.cancelled
        try:
            invitation = self.stores.load(shard, Invitation.create_id(event.id, guest_id),
                                          Invitation)
        except NotFoundError:
            if invited:
                shard.save(Invitation(event.id, guest_id, event.organizer_id,
                                      summary_of(event), version))
            return
        if not invitation.is_behind(version):
            return
        _bring_up_to_date(invitation, event, invited, version)
        shard.save(invitation)


def _bring_up_to_date(invitation: Invitation, event: CalendarEvent, invited: bool,
                      version: int) -> None:
    if not invited:
        reason = "cancelled" if event.cancelled else "uninvited"
        invitation.withdraw(reason, version)
    elif not invitation.active:
        invitation.renew(summary_of(event), version)
    else:
        invitation.change_summary(summary_of(event), version)


def _touched_guests(domain_event: DomainEventProtocol[Any], event: CalendarEvent) -> list[str]:
    """Current guests, plus anyone this very change uninvited."""
    removed = getattr(domain_event, "uninvited", [])
    return [*event.guests, *removed]


def summary_of(event: CalendarEvent) -> dict[str, Any]:
    """What a guest's inbox shows of the event."""
    d = event.details
    return {"title": d.title, "start": d.start.isoformat(), "end": d.end.isoformat(),
            "all_day": d.all_day, "timezone": d.timezone, "recurring": d.rrule is not None}
