"""Queries over the projections. Nothing here loads an aggregate or touches the event
store; recurring series are expanded inside the asked window only."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain import freebusy
from domain.recurrence import expand
from projections.event_state import EventState
from projections.masks import mask_from_bytes
from projections.spans import ALL_DAY_SLACK, utc_text
from read_api.rendering import all_day_bounds, render_event, render_instance, render_times
from read_api.store import BusyStore, ReadStore


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


# -- users ------------------------------------------------------------------------------


def user_profile(store: ReadStore, user_id: str) -> dict[str, Any] | None:
    rows = store.of_user(user_id).query(
        "SELECT email, name, timezone, week_start, working_hours FROM users WHERE user_id = ?",
        (user_id,))
    if not rows:
        return None
    email, name, tz, week_start, working_hours = rows[0]
    return {"user_id": user_id, "email": email, "name": name, "timezone": tz,
            "week_start": week_start, "working_hours": json.loads(working_hours)}


def unknown_users(store: ReadStore, user_ids: list[str]) -> list[str]:
    marks = ",".join("?" * len(user_ids))
    rows = store.query(f"SELECT user_id FROM users WHERE user_id IN ({marks})", user_ids)
    known = {r[0] for r in rows}
    return [u for u in user_ids if u not in known]


# -- events -----------------------------------------------------------------------------


def event_state(store: ReadStore, event_id: str, viewer: str) -> EventState | None:
    """The event if `viewer` organizes it or is invited, else None (never leak existence)."""
    rows = store.of_event(event_id).query("SELECT state FROM cal_events WHERE event_id = ?",
                                          (event_id,))
    if not rows:
        return None
    state = EventState.loads(rows[0][0])
    return state if viewer in state.participants else None


def rsvps(store: ReadStore, event_id: str) -> dict[str, str]:
    rows = store.of_event(event_id).query(
        "SELECT user_id, rsvp_status FROM cal_guests WHERE event_id = ?", (event_id,))
    return dict(rows)


def event(store: ReadStore, event_id: str, viewer: str, tz: ZoneInfo | None
          ) -> dict[str, Any] | None:
    state = event_state(store, event_id, viewer)
    return None if state is None else render_event(state, rsvps(store, event_id), tz)


def instances(store: ReadStore, event_id: str, viewer: str, window: Window,
              tz: ZoneInfo | None, fresh: EventState | None = None
              ) -> list[dict[str, Any]] | None:
    """The event's instances in the window; `fresh`: the event as the viewer's own newer
    write left it in the event store (own-writes fallback), instead of the views' row."""
    state = event_state(store, event_id, viewer) if fresh is None else fresh
    if state is None or viewer not in state.participants:
        return None
    if state.cancelled:
        return []
    rsvp = _rsvp_for(state, viewer, rsvps(store, event_id).get(viewer))
    return _instances_in(state, window, rsvp, tz, tz or ZoneInfo("UTC"))


# -- the calendar view ------------------------------------------------------------------


def calendar_view(store: ReadStore, user_id: str, window: Window, viewer_zone: ZoneInfo,
                  tz: ZoneInfo | None, include_declined: bool) -> list[dict[str, Any]]:
    rows = store.of_user(user_id).query(
        "SELECT listing, rsvp_status FROM cal_entries"
        " WHERE user_id = ? AND span_end > ? AND span_start < ?",
        (user_id, utc_text(window.start), utc_text(window.end)))
    items: list[dict[str, Any]] = []
    for listing, rsvp in rows:
        if rsvp != "no" or include_declined:
            items.extend(_instances_in(EventState.loads(listing), window, rsvp, tz,
                                       viewer_zone))
    return sorted(items, key=lambda i: (i["_sort"], i["event_id"]))


def fresh_event(store: ReadStore, state: EventState, viewer: str, tz: ZoneInfo | None
                ) -> dict[str, Any] | None:
    """An event the viewer wrote, as loaded from the event store (own-writes fallback)."""
    if viewer not in state.participants:
        return None
    return render_event(state, rsvps(store, str(state.doc["event_id"])), tz)


def overlay_view(store: ReadStore, items: list[dict[str, Any]], fresh: Iterable[EventState],
                 user_id: str, window: Window, viewer_zone: ZoneInfo, tz: ZoneInfo | None,
                 include_declined: bool) -> list[dict[str, Any]]:
    """The calendar view with the viewer's newer events (own-writes fallback) in place of
    what the views hold for them."""
    fresh = list(fresh)
    replaced = {str(state.doc["event_id"]) for state in fresh}
    merged = [item for item in items if item["event_id"] not in replaced]
    for state in fresh:
        if state.cancelled or user_id not in state.participants:
            continue
        rsvp = _rsvp_for(state, user_id, rsvps(store, str(state.doc["event_id"])).get(user_id))
        if rsvp != "no" or include_declined:
            merged.extend(_instances_in(state, window, rsvp, tz, viewer_zone))
    return sorted(merged, key=lambda i: (i["_sort"], i["event_id"]))


def strip_sort_keys(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        item.pop("_sort", None)
    return items


def _rsvp_for(state: EventState, user_id: str, guest_rsvp: str | None) -> str:
    return "organizer" if user_id == state.organizer_id else guest_rsvp or "pending"


def _instances_in(state: EventState, window: Window, rsvp: str, tz: ZoneInfo | None,
                  viewer_zone: ZoneInfo) -> list[dict[str, Any]]:
    details = state.details
    if not details.all_day:
        found = expand(state.series, window.start, window.end)
        return [{**render_instance(state, o, rsvp, tz), "_sort": o.start} for o in found]
    wide = expand(state.series, window.start - ALL_DAY_SLACK, window.end + ALL_DAY_SLACK)
    items = []
    for o in wide:
        start, end = all_day_bounds(o, details.timezone, viewer_zone)
        if start < window.end and end > window.start:
            items.append({**render_instance(state, o, rsvp, tz), "_sort": start})
    return items


# -- invitations ------------------------------------------------------------------------


def inbox(store: ReadStore, guest_id: str, status: str | None) -> list[dict[str, Any]]:
    sql = ("SELECT event_id, organizer_id, summary, rsvp_status, invited_at FROM inbox"
           " WHERE guest_id = ? AND active = 1")
    params: list[Any] = [guest_id]
    if status:
        sql += " AND rsvp_status = ?"
        params.append(status)
    rows = store.of_user(guest_id).query(sql + " ORDER BY invited_at, event_id", params)
    return [_inbox_item(*row) for row in rows]


def _inbox_item(event_id: str, organizer_id: str, summary: str, rsvp: str,
                invited_at: str) -> dict[str, Any]:
    s = json.loads(summary)
    start, end = datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])
    start_text, end_text = render_times(start, end, s["all_day"], s["timezone"], None)
    return {"event_id": event_id, "organizer_id": organizer_id, "title": s["title"],
            "start": start_text, "end": end_text, "rsvp_status": rsvp,
            "invited_at": invited_at}


# -- availability -----------------------------------------------------------------------


def busy_masks(busy: BusyStore, user_ids: list[str], window: Window
               ) -> dict[str, dict[date, int]]:
    """Each user's busy slots in the window: stored masks of single events OR the
    window's instances of the recurring series they hold."""
    masks: dict[str, dict[date, int]] = {u: {} for u in user_ids}
    first, last = window.start.date() - timedelta(days=1), window.end.date()
    for user_id, day, mask in busy.day_masks(user_ids, first.isoformat(), last.isoformat()):
        days = masks[user_id]
        day_value = date.fromisoformat(day)
        days[day_value] = days.get(day_value, 0) | mask_from_bytes(mask)
    recurring = busy.recurring(user_ids, utc_text(window.start), utc_text(window.end))
    for user_id, state_text, rules_from in recurring:
        horizon = datetime.strptime(rules_from, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        for o in expand(EventState.loads(state_text).series, window.start, window.end):
            if o.start >= horizon:  # earlier instances are already in the stored masks
                masks[user_id] = freebusy.union(masks[user_id],
                                                freebusy.slot_masks(o.start, o.end))
    return masks


class SqlBusyStore:
    """BusyStore over the free/busy projection's tables."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def day_masks(self, user_ids: list[str], first: str, last: str
                  ) -> Iterable[tuple[str, str, bytes]]:
        marks = ",".join("?" * len(user_ids))
        return self.store.query(
            f"SELECT user_id, day, mask FROM fb_masks WHERE user_id IN ({marks})"
            " AND day >= ? AND day <= ?", (*user_ids, first, last))

    def recurring(self, user_ids: list[str], span_start: str, span_end: str
                  ) -> Iterable[tuple[str, str, str]]:
        marks = ",".join("?" * len(user_ids))
        return self.store.query(
            f"SELECT s.user_id, e.state, s.span_start FROM fb_series s JOIN fb_events e"
            f" ON e.event_id = s.event_id WHERE s.user_id IN ({marks})"
            " AND s.span_end > ? AND s.span_start < ?", (*user_ids, span_start, span_end))
