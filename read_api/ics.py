"""iCalendar export of the caller's calendar (RFC 5545): one VEVENT per event with
RRULE/EXDATE/RDATE, one VEVENT per overridden instance (RECURRENCE-ID), times with TZID
and the VTIMEZONE components they name. Built from the projections, like every read."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vRecur

from domain.recurrence import parse_instance_key
from projections.event_state import EventState
from projections.spans import utc_text
from read_api.store import ReadStore

PARTSTAT = {"pending": "NEEDS-ACTION", "yes": "ACCEPTED", "no": "DECLINED",
            "maybe": "TENTATIVE"}


def export_calendar(store: ReadStore, user_id: str, start: datetime, end: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//calendar-backend//EN")
    calendar.add("version", "2.0")
    for state, answers in _events(store, user_id, start, end):
        for component in vevents(state, answers):
            calendar.add_component(component)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def _events(store: ReadStore, user_id: str, start: datetime, end: datetime
            ) -> list[tuple[EventState, dict[str, str]]]:
    """The user's entries (their shard's rows), each with its event's whole state and
    every guest's answer (the event's shard's rows)."""
    rows = store.of_user(user_id).query(
        "SELECT event_id FROM cal_entries WHERE user_id = ? AND span_end > ?"
        " AND span_start < ? ORDER BY event_id", (user_id, utc_text(start), utc_text(end)))
    found = []
    for (event_id,) in rows:
        home = store.of_event(event_id)
        states = home.query("SELECT state FROM cal_events WHERE event_id = ?", (event_id,))
        answers = dict(home.query("SELECT user_id, rsvp_status FROM cal_guests"
                                  " WHERE event_id = ?", (event_id,)))
        if states:  # a guest's entry may arrive before the event's rows (other shard)
            found.append((EventState.loads(states[0][0]), answers))
    return found


def vevents(state: EventState, answers: dict[str, str]) -> list[Event]:
    master = _master(state, answers)
    return [master, *(_override(state, key, record) for key, record
                      in sorted(state.doc["overrides"].items()))]


def _master(state: EventState, answers: dict[str, str]) -> Event:
    d = state.details
    event = _base(state, _when(d.start, state), _when(d.end, state), d.title)
    _add_text(event, "description", d.description)
    _add_text(event, "location", d.location)
    event.add("transp", d.transparency.upper())
    if d.rrule:
        event.add("rrule", vRecur.from_ical(d.rrule))
    excluded = [*d.exdates, *(parse_instance_key(k) for k in state.doc["cancelled"])]
    for instant in excluded:
        event.add("exdate", _when(instant, state))
    for instant in d.rdates:
        event.add("rdate", _when(instant, state))
    for guest_id, email in state.doc["guests"].items():
        status = PARTSTAT[answers.get(guest_id, "pending")]
        event.add("attendee", f"mailto:{email}", parameters={"PARTSTAT": status})
    return event


def _override(state: EventState, key: str, record: dict[str, Any]) -> Event:
    d = state.details
    start, end = datetime.fromisoformat(record["start"]), datetime.fromisoformat(record["end"])
    event = _base(state, _when(start, state), _when(end, state), record.get("title") or d.title)
    event.add("recurrence-id", _when(parse_instance_key(key), state))
    _add_text(event, "location", record.get("location") or d.location)
    return event


def _add_text(event: Event, name: str, value: str) -> None:
    if value:
        event.add(name, value)


def _base(state: EventState, start: date | datetime, end: date | datetime,
          title: str) -> Event:
    event = Event()
    event.add("uid", state.doc["event_id"])
    event.add("dtstamp", datetime.fromisoformat(state.doc["updated_at"]))
    event.add("sequence", int(state.doc["version"]) - 1)
    event.add("summary", title)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("status", "CONFIRMED")
    return event


def _when(instant: datetime, state: EventState) -> date | datetime:
    """Local time in the event's zone (TZID), or a DATE for all-day events."""
    local = instant.astimezone(ZoneInfo(state.details.timezone))
    return local.date() if state.details.all_day else local
