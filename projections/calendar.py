"""The calendar projection: each event's current state (what GET /v1/events shows),
every guest's RSVP, and one row per participant per event with the span of time the
event's instances occupy. Views expand recurring series inside the asked window at
read time, so an unbounded series is never materialised (README: Recurrence)."""

from __future__ import annotations

from typing import Any

from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation
from projections.base import Tx
from projections.event_state import EventState
from projections.spans import span_of


class CalendarProjection:
    name = "calendar"

    def schema(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS cal_events (event_id TEXT PRIMARY KEY,"
            " organizer_id TEXT NOT NULL, state TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS cal_guests (event_id TEXT NOT NULL,"
            " user_id TEXT NOT NULL, rsvp_status TEXT NOT NULL, updated_at TEXT NOT NULL,"
            " PRIMARY KEY (event_id, user_id))",
            "CREATE TABLE IF NOT EXISTS cal_entries (user_id TEXT NOT NULL,"
            " event_id TEXT NOT NULL, span_start TEXT NOT NULL, span_end TEXT NOT NULL,"
            " PRIMARY KEY (user_id, event_id))",
            # Covers the window query: no table lookups to discard rows that start too late.
            "CREATE INDEX IF NOT EXISTS cal_entries_window"
            " ON cal_entries (user_id, span_end, span_start, event_id)",
        ]

    def tables(self) -> list[str]:
        return ["cal_events", "cal_guests", "cal_entries"]

    def process(self, event: Any, tx: Tx) -> None:
        if isinstance(event, CalendarEvent.Scheduled):  # type: ignore[attr-defined]
            self._scheduled(event, tx)
        elif isinstance(event, CalendarEvent.Event):
            self._changed(event, tx)
        elif isinstance(event, Invitation.Responded):  # type: ignore[attr-defined]
            self._responded(event, tx, event.status)
        elif isinstance(event, Invitation.Renewed):  # type: ignore[attr-defined]
            self._responded(event, tx, "pending")

    def _scheduled(self, event: Any, tx: Tx) -> None:
        self._insert(EventState.scheduled(event), tx)

    def _insert(self, state: EventState, tx: Tx) -> None:
        """A series made by a split arrives twice (in SeriesSplit, then its own
        Scheduled): the first one wins."""
        found = tx.query("SELECT 1 FROM cal_events WHERE event_id = ?", (state.doc["event_id"],))
        if found:
            return
        tx.execute("INSERT INTO cal_events (event_id, organizer_id, state) VALUES (?, ?, ?)",
                   (state.doc["event_id"], state.organizer_id, state.dumps()))
        self._write_entries(state, tx)

    def _changed(self, event: Any, tx: Tx) -> None:
        event_id = str(event.originator_id)
        rows = tx.query("SELECT state FROM cal_events WHERE event_id = ?", (event_id,))
        state = EventState.loads(rows[0][0])
        state.apply(event)
        tx.execute("UPDATE cal_events SET state = ? WHERE event_id = ?",
                   (state.dumps(), event_id))
        tx.execute("DELETE FROM cal_entries WHERE event_id = ?", (event_id,))
        if not state.cancelled:
            self._write_entries(state, tx)
        if type(event).__name__ == "SeriesSplit":
            self._insert(EventState.following(event, state), tx)

    def _write_entries(self, state: EventState, tx: Tx) -> None:
        span_start, span_end = span_of(state)
        rows = [(user, state.doc["event_id"], span_start, span_end)
                for user in state.participants]
        tx.executemany("INSERT INTO cal_entries (user_id, event_id, span_start, span_end)"
                       " VALUES (?, ?, ?, ?)", rows)

    def _responded(self, event: Any, tx: Tx, status: str) -> None:
        """RSVPs come from the guest's shard, in no fixed order relative to the event's own
        changes; keeping every answer (membership comes from the event's state) makes the
        result the same in any interleaving, so replay equals live."""
        tx.execute(
            "INSERT INTO cal_guests (event_id, user_id, rsvp_status, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (event_id, user_id) DO UPDATE"
            " SET rsvp_status = excluded.rsvp_status, updated_at = excluded.updated_at",
            (str(event.event_id), str(event.guest_id), status,
             event.timestamp.isoformat()))
