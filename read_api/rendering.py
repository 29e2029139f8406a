"""How instants, events and instances look on the wire (api-contract.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.recurrence import Occurrence, instance_key
from projections.event_state import EventState


def render_instant(instant: datetime, tz: ZoneInfo | None) -> str:
    """UTC with `Z` unless the caller asked for a zone."""
    if tz is None:
        return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return instant.astimezone(tz).isoformat()


def local_date(instant: datetime, zone_name: str) -> date:
    return instant.astimezone(ZoneInfo(zone_name)).date()


def render_times(start: datetime, end: datetime, all_day: bool, zone_name: str,
                 tz: ZoneInfo | None) -> tuple[str, str]:
    """All-day events are dates (end exclusive), the same for every viewer."""
    if all_day:
        first = local_date(start, zone_name)
        return first.isoformat(), (first + nominal_days(start, end)).isoformat()
    return render_instant(start, tz), render_instant(end, tz)


def nominal_days(start: datetime, end: datetime) -> timedelta:
    """Whole calendar days an all-day instance spans. Instances keep the series' exact
    duration, which is an hour off on a 23- or 25-hour DST day; rounding restores the
    dates (DST shifts are far below half a day)."""
    return timedelta(days=max(1, round((end - start) / timedelta(days=1))))


def render_event(state: EventState, rsvps: dict[str, str], tz: ZoneInfo | None) -> dict[str, Any]:
    d = state.details
    start, end = render_times(d.start, d.end, d.all_day, d.timezone, tz)
    doc = state.doc
    return {
        "event_id": doc["event_id"], "organizer_id": doc["organizer_id"], "title": d.title,
        "description": d.description, "location": d.location, "start": start, "end": end,
        "timezone": d.timezone, "all_day": d.all_day, "rrule": d.rrule,
        "exdates": [render_instant(x, tz) for x in d.exdates],
        "rdates": [render_instant(x, tz) for x in d.rdates],
        "transparency": d.transparency, "status": doc["status"],
        "guests": [{"user_id": g, "email": email, "rsvp_status": rsvps.get(g, "pending")}
                   for g, email in doc["guests"].items()],
        "version": doc["version"], "created_at": doc["created_at"],
        "updated_at": doc["updated_at"], "series_id": doc["series_id"],
        "overrides": {k: _render_override(v, tz) for k, v in doc["overrides"].items()},
        "cancelled_instances": sorted(doc["cancelled"]),
    }


def _render_override(record: dict[str, Any], tz: ZoneInfo | None) -> dict[str, Any]:
    times = {k: render_instant(datetime.fromisoformat(record[k]), tz) for k in ("start", "end")}
    return {**record, **times}


def instance_id(state: EventState, occurrence: Occurrence) -> str:
    """Recurring instances are `{event_id}_{original start in UTC}`; a single event's
    only instance is the event itself."""
    if not is_recurring(state):
        return str(state.doc["event_id"])
    return f"{state.series_root}_{instance_key(occurrence.original_start)}"


def is_recurring(state: EventState) -> bool:
    d = state.details
    return bool(d.rrule or d.rdates)


def render_instance(state: EventState, occurrence: Occurrence, rsvp: str,
                    tz: ZoneInfo | None) -> dict[str, Any]:
    d, override = state.details, occurrence.override
    start, end = render_times(occurrence.start, occurrence.end, d.all_day, d.timezone, tz)
    return {
        "instance_id": instance_id(state, occurrence), "event_id": state.doc["event_id"],
        "title": (override and override.title) or d.title,
        "location": (override and override.location) or d.location,
        "description": (override and override.description) or d.description,
        "start": start, "end": end, "all_day": d.all_day,
        "organizer_id": state.organizer_id, "is_recurring": is_recurring(state),
        "original_start": render_instant(occurrence.original_start, tz),
        "status": "confirmed", "rsvp_status": rsvp,
    }


def all_day_bounds(occurrence: Occurrence, zone_name: str, viewer: ZoneInfo) -> tuple[
        datetime, datetime]:
    """An all-day instance covers its dates from midnight to midnight in the viewer's zone."""
    first = local_date(occurrence.start, zone_name)
    last = first + nominal_days(occurrence.start, occurrence.end)
    return (datetime.combine(first, datetime.min.time(), tzinfo=viewer),
            datetime.combine(last, datetime.min.time(), tzinfo=viewer))
