"""The invitation inbox: one row per guest per event, from the guest's Invitation."""

from __future__ import annotations

import json
from typing import Any

from domain.invitation import Invitation
from projections.base import Tx


class InboxProjection:
    name = "invitations"
    topics: tuple[str, ...] = ("calendar:Invitation.",)

    def schema(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS inbox (invitation_id TEXT PRIMARY KEY,"
            " guest_id TEXT NOT NULL, event_id TEXT NOT NULL, organizer_id TEXT NOT NULL,"
            " summary TEXT NOT NULL, rsvp_status TEXT NOT NULL, active INTEGER NOT NULL,"
            " invited_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS inbox_by_guest ON inbox (guest_id, active, invited_at)",
        ]

    def tables(self) -> list[str]:
        return ["inbox"]

    def process(self, event: Any, tx: Tx) -> None:
        kind = type(event).__name__ if isinstance(event, Invitation.Event) else None
        if kind == "Extended":
            self._extended(event, tx)
        elif kind == "SummaryChanged":
            self._set(event, tx, "summary = ?", _json(event.summary))
        elif kind == "Renewed":
            self._set(event, tx, "summary = ?, active = 1, rsvp_status = 'pending'",
                      _json(event.summary))
        elif kind == "Withdrawn":
            self._set(event, tx, "active = 0")
        elif kind == "Responded":
            self._set(event, tx, "rsvp_status = ?", event.status)

    def _extended(self, event: Any, tx: Tx) -> None:
        at = event.timestamp.isoformat()
        tx.execute(
            "INSERT INTO inbox (invitation_id, guest_id, event_id, organizer_id, summary,"
            " rsvp_status, active, invited_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 'pending', 1, ?, ?)",
            (str(event.originator_id), str(event.guest_id), str(event.event_id),
             str(event.organizer_id), _json(event.summary), at, at))

    def _set(self, event: Any, tx: Tx, assignments: str, *values: Any) -> None:
        tx.execute(f"UPDATE inbox SET {assignments}, updated_at = ? WHERE invitation_id = ?",
                   (*values, event.timestamp.isoformat(), str(event.originator_id)))


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
