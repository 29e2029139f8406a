"""The calendar projection: each event's current state (what GET /v1/events shows) and
every user's calendar entries: one row per participant per event, with the span of time
the event's instances occupy, the event as the calendar shows it and the user's answer.
Views expand recurring series inside the asked window at read time, so an unbounded
series is never materialised (README: Recurrence).

Each row is built from the aggregates of its own user's shard: the organizer's entry and
the event's state from the CalendarEvent, a guest's entry from the guest's Invitation
(which carries the event's listing). So in the distributed deployment every row of a
user lives on that user's shard and no change reads or writes another shard's rows."""

from __future__ import annotations

from typing import Any

from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation
from projections.base import Tx
from projections.event_state import EventState
from projections.spans import span_of


class CalendarProjection:
    name = "calendar"
    topics: tuple[str, ...] = ("calendar:CalendarEvent.", "calendar:Invitation.")

    def schema(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS cal_events (event_id TEXT PRIMARY KEY,"
            " organizer_id TEXT NOT NULL, state TEXT NOT NULL)",
            # entry_id: the aggregate that keeps the row (the event for its organizer,
            # the invitation for a guest).
            "CREATE TABLE IF NOT EXISTS cal_entries (user_id TEXT NOT NULL,"
            " event_id TEXT NOT NULL, entry_id TEXT NOT NULL UNIQUE,"
            " span_start TEXT NOT NULL, span_end TEXT NOT NULL,"
            " listing TEXT NOT NULL, rsvp_status TEXT NOT NULL,"
            " PRIMARY KEY (user_id, event_id))",
            "CREATE INDEX IF NOT EXISTS cal_entries_window"
            " ON cal_entries (user_id, span_end, span_start)",
        ]

    def tables(self) -> list[str]:
        return ["cal_events", "cal_entries"]

    def process(self, event: Any, tx: Tx) -> None:
        if isinstance(event, CalendarEvent.Scheduled):  # type: ignore[attr-defined]
            self._insert(EventState.scheduled(event), tx)
        elif isinstance(event, CalendarEvent.Event):
            self._changed(event, tx)
        elif isinstance(event, Invitation.Event):
            self._invitation(event, tx)

    # -- the organizer's side: the event's state and the organizer's entry --------------

    def _insert(self, state: EventState, tx: Tx) -> None:
        """A series made by a split arrives twice (in SeriesSplit, then its own
        Scheduled): the first one wins."""
        inserted = tx.query("INSERT INTO cal_events (event_id, organizer_id, state)"
                            " VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING RETURNING 1",
                            (state.doc["event_id"], state.organizer_id, state.dumps()))
        if inserted:
            _write_entry(tx, state.organizer_id, state.doc["event_id"], state, "organizer")

    def _changed(self, event: Any, tx: Tx) -> None:
        event_id = str(event.originator_id)
        rows = tx.query("SELECT state FROM cal_events WHERE event_id = ?", (event_id,))
        state = EventState.loads(rows[0][0])
        state.apply(event)
        tx.execute("UPDATE cal_events SET state = ? WHERE event_id = ?",
                   (state.dumps(), event_id))
        if state.cancelled:
            tx.execute("DELETE FROM cal_entries WHERE entry_id = ?", (event_id,))
        else:
            _change_entry(tx, event_id, state)
        if type(event).__name__ == "SeriesSplit":
            self._insert(EventState.following(event, state), tx)

    # -- a guest's side: the guest's entry, from their Invitation ------------------------

    def _invitation(self, event: Any, tx: Tx) -> None:
        kind, invitation = type(event).__name__, str(event.originator_id)
        listing = getattr(event, "listing", None)
        if kind in ("Extended", "Renewed", "SummaryChanged") and listing is not None:
            answer = None if kind == "SummaryChanged" else "pending"
            _write_entry(tx, str(event.guest_id), invitation, EventState.listed(listing),
                         answer)
        elif kind == "Withdrawn":
            tx.execute("DELETE FROM cal_entries WHERE entry_id = ?", (invitation,))
        elif kind == "Responded":
            tx.execute("UPDATE cal_entries SET rsvp_status = ? WHERE entry_id = ?",
                       (event.status, invitation))
        # Invitation events stored before they carried a listing give the guest no entry
        # until the event's next change (README: Upgrading).


def _write_entry(tx: Tx, user_id: str, entry_id: str, state: EventState,
                 answer: str | None) -> None:
    """Insert or replace the user's entry; `answer` None keeps the answer it has."""
    span_start, span_end = span_of(state)
    new_answer = "" if answer is None else ", rsvp_status = excluded.rsvp_status"
    tx.execute("INSERT INTO cal_entries (user_id, event_id, entry_id, span_start, span_end,"
               " listing, rsvp_status) VALUES (?, ?, ?, ?, ?, ?, ?)"
               " ON CONFLICT (user_id, event_id) DO UPDATE SET span_start = excluded.span_start,"
               f" span_end = excluded.span_end, listing = excluded.listing{new_answer}",
               (user_id, state.doc["event_id"], entry_id, span_start, span_end,
                _listing_text(state), answer or "pending"))


def _change_entry(tx: Tx, entry_id: str, state: EventState) -> None:
    span_start, span_end = span_of(state)
    tx.execute("UPDATE cal_entries SET span_start = ?, span_end = ?, listing = ?"
               " WHERE entry_id = ?", (span_start, span_end, _listing_text(state), entry_id))


def _listing_text(state: EventState) -> str:
    return EventState.listed(state.listing()).dumps()
