"""The free/busy projection: who is busy when, as 96-slot day masks.

A single event becomes one mask per participant per UTC day it touches. A recurring
series is materialised the same way for its first year (instances starting within 366
days of its first start, if there are at most 2,000 of them); what lies beyond that
horizon is kept as a rule row per participant and expanded inside the asked window at
read time (cost in proportion to the instances in the window), so an unbounded series
costs a bounded amount to store. The horizon depends on the series alone, never on a
clock, so a replay gives the same rows. Masks are kept per event, and a user's day is
the OR of them: removing one event never frees a slot another event still holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from domain.calendar_event import CalendarEvent
from domain.errors import TooManyInstancesError
from domain.freebusy import slot_masks, union
from domain.invitation import Invitation
from domain.recurrence import expand, series_bounds
from projections.base import Tx
from projections.event_state import EventState
from projections.masks import mask_to_bytes
from projections.spans import span_of, utc_text

MATERIALISED = timedelta(days=366)
MAX_MATERIALISED_INSTANCES = 2_000


@dataclass(frozen=True)
class BusyContribution:
    """What one event makes busy for each of `busy_users`: day masks (a single event, or
    a series' first year), and the span from which its rule is expanded at read time."""

    busy_users: list[str]
    masks: dict[date, int]
    rule_span: tuple[str, str] | None = None

    @property
    def recurring(self) -> bool:
        return self.rule_span is not None


def contribution(state: EventState, declined: set[str]) -> BusyContribution:
    """Opaque, not cancelled: busy for the organizer and every guest who has not said no."""
    details = state.details
    if state.cancelled or details.transparency != "opaque":
        return BusyContribution([], {})
    users = [u for u in state.participants if u not in declined]
    if details.rrule or details.rdates:
        masks, rule_span = materialised(state)
        return BusyContribution(users, masks, rule_span)
    return BusyContribution(users, slot_masks(details.start, details.end))


def materialised(state: EventState) -> tuple[dict[date, int], tuple[str, str] | None]:
    """A series' first year as masks, and the span left to read-time expansion (None
    when the series ends inside the horizon)."""
    first, last = series_bounds(state.series)
    horizon = first + MATERIALISED
    try:
        found = expand(state.series, first, horizon, MAX_MATERIALISED_INSTANCES)
    except TooManyInstancesError:
        return {}, span_of(state)  # too dense to store: all of it at read time
    masks = union(*(slot_masks(o.start, o.end) for o in found if o.start < horizon))
    if last is not None and last <= horizon:
        return masks, None
    return masks, (utc_text(horizon), span_of(state)[1])


class FreeBusyProjection:
    name = "freebusy"
    topics: tuple[str, ...] = ("calendar:CalendarEvent.", "calendar:Invitation.Responded",
              "calendar:Invitation.Renewed")

    def schema(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS fb_events (event_id TEXT PRIMARY KEY,"
            " state TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS fb_declined (event_id TEXT NOT NULL,"
            " user_id TEXT NOT NULL, PRIMARY KEY (event_id, user_id))",
            "CREATE TABLE IF NOT EXISTS fb_masks (user_id TEXT NOT NULL, day TEXT NOT NULL,"
            " event_id TEXT NOT NULL, mask BLOB NOT NULL, PRIMARY KEY (user_id, day, event_id))",
            "CREATE INDEX IF NOT EXISTS fb_masks_by_event ON fb_masks (event_id)",
            "CREATE TABLE IF NOT EXISTS fb_series (user_id TEXT NOT NULL,"
            " event_id TEXT NOT NULL, span_start TEXT NOT NULL, span_end TEXT NOT NULL,"
            " PRIMARY KEY (user_id, event_id))",
            "CREATE INDEX IF NOT EXISTS fb_series_by_event ON fb_series (event_id)",
        ]

    def tables(self) -> list[str]:
        return ["fb_events", "fb_declined", "fb_masks", "fb_series"]

    def process(self, event: Any, tx: Tx) -> None:
        if isinstance(event, CalendarEvent.Scheduled):  # type: ignore[attr-defined]
            self._insert(EventState.scheduled(event), tx)
        elif isinstance(event, CalendarEvent.Event):
            self._changed(event, tx)
        elif isinstance(event, Invitation.Responded):  # type: ignore[attr-defined]
            self._responded(event, tx, event.status)
        elif isinstance(event, Invitation.Renewed):  # type: ignore[attr-defined]
            self._responded(event, tx, "pending")

    def _insert(self, state: EventState, tx: Tx) -> None:
        """A series made by a split arrives twice; the first one wins."""
        if _load(state.doc["event_id"], tx) is not None:
            return
        tx.execute("INSERT INTO fb_events (event_id, state) VALUES (?, ?)",
                   (state.doc["event_id"], state.dumps()))
        self._rewrite(state, tx)

    def _changed(self, event: Any, tx: Tx) -> None:
        state = _load(str(event.originator_id), tx)
        if state is None:
            return
        state.apply(event)
        tx.execute("UPDATE fb_events SET state = ? WHERE event_id = ?",
                   (state.dumps(), state.doc["event_id"]))
        self._rewrite(state, tx)
        if type(event).__name__ == "SeriesSplit":
            self._insert(EventState.following(event, state), tx)

    def _responded(self, event: Any, tx: Tx, status: str) -> None:
        event_id, guest_id = str(event.event_id), str(event.guest_id)
        tx.execute("DELETE FROM fb_declined WHERE event_id = ? AND user_id = ?",
                   (event_id, guest_id))
        if status == "no":
            tx.execute("INSERT INTO fb_declined (event_id, user_id) VALUES (?, ?)",
                       (event_id, guest_id))
        state = _load(event_id, tx)
        if state is not None:
            self._rewrite(state, tx)

    def _rewrite(self, state: EventState, tx: Tx) -> None:
        event_id = state.doc["event_id"]
        tx.execute("DELETE FROM fb_masks WHERE event_id = ?", (event_id,))
        tx.execute("DELETE FROM fb_series WHERE event_id = ?", (event_id,))
        busy = contribution(state, _declined(event_id, tx))
        tx.executemany(
            "INSERT INTO fb_masks (user_id, day, event_id, mask) VALUES (?, ?, ?, ?)",
            [(u, day.isoformat(), event_id, mask_to_bytes(mask))
             for u in busy.busy_users for day, mask in busy.masks.items()])
        if busy.rule_span is not None:
            span_start, span_end = busy.rule_span
            tx.executemany(
                "INSERT INTO fb_series (user_id, event_id, span_start, span_end)"
                " VALUES (?, ?, ?, ?)",
                [(u, event_id, span_start, span_end) for u in busy.busy_users])


def _load(event_id: str, tx: Tx) -> EventState | None:
    rows = tx.query("SELECT state FROM fb_events WHERE event_id = ?", (event_id,))
    return EventState.loads(rows[0][0]) if rows else None


def _declined(event_id: str, tx: Tx) -> set[str]:
    rows = tx.query("SELECT user_id FROM fb_declined WHERE event_id = ?", (event_id,))
    return {r[0] for r in rows}
