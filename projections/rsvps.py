"""Guests' answers as the organizer's event shows them (GET /v1/events/{id}): the RSVPs
flow back from the guests' Invitations, on the guests' shards, to the event's rows."""

from __future__ import annotations

from typing import Any

from domain.invitation import Invitation
from projections.base import Tx


class RsvpProjection:
    name = "rsvps"
    topics: tuple[str, ...] = ("calendar:Invitation.Responded", "calendar:Invitation.Renewed")

    def schema(self) -> list[str]:
        return ["CREATE TABLE IF NOT EXISTS cal_guests (event_id TEXT NOT NULL,"
                " user_id TEXT NOT NULL, rsvp_status TEXT NOT NULL, updated_at TEXT NOT NULL,"
                " PRIMARY KEY (event_id, user_id))"]

    def tables(self) -> list[str]:
        return ["cal_guests"]

    def process(self, event: Any, tx: Tx) -> None:
        if isinstance(event, Invitation.Responded):  # type: ignore[attr-defined]
            self._answer(event, tx, event.status)
        elif isinstance(event, Invitation.Renewed):  # type: ignore[attr-defined]
            self._answer(event, tx, "pending")

    def _answer(self, event: Any, tx: Tx, status: str) -> None:
        """Who is a guest comes from the event's state; keeping every answer makes the
        result the same in any interleaving with the event's own changes (they travel
        from different shards), so replay equals live."""
        tx.execute(
            "INSERT INTO cal_guests (event_id, user_id, rsvp_status, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (event_id, user_id) DO UPDATE"
            " SET rsvp_status = excluded.rsvp_status, updated_at = excluded.updated_at",
            (str(event.event_id), str(event.guest_id), status, event.timestamp.isoformat()))
