"""iCalendar import (RFC 5545): every master VEVENT becomes an event of the caller's,
every VEVENT with a RECURRENCE-ID an override of its series' instance. The whole file is
read and validated before anything is written. Attendees are not invited: importing a
file must not send invitations on someone else's behalf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from icalendar import Calendar

from commands import handlers
from commands.models import CreateEvent, PatchInstance
from commands.service import CalendarStores
from domain.errors import DomainError
from domain.recurrence import instance_key
from domain.user import User

MAX_IMPORTED_EVENTS = 1000


class InvalidCalendarError(DomainError):
    """The iCalendar text cannot be read or holds something this service cannot store."""


@dataclass
class ParsedEvent:
    uid: str
    create: CreateEvent
    overrides: list[tuple[str, PatchInstance]]


def import_calendar(stores: CalendarStores, organizer: User, text: bytes) -> list[UUID]:
    parsed = parse_calendar(text, organizer.timezone)
    created = []
    for item in parsed:
        event = handlers.create_event(stores, organizer, item.create)
        for key, patch in item.overrides:
            event = handlers.override_instance(stores, organizer.id, event.id, key, patch,
                                               event.version)
        created.append(event.id)
    return created


def parse_calendar(text: bytes, default_zone: str) -> list[ParsedEvent]:
    try:
        calendar = Calendar.from_ical(text)
        components = list(calendar.walk("VEVENT"))
    except (ValueError, KeyError, IndexError) as error:
        raise InvalidCalendarError(f"not a readable iCalendar file: {error}") from error
    masters = [c for c in components if "RECURRENCE-ID" not in c]
    if len(masters) > MAX_IMPORTED_EVENTS:
        raise InvalidCalendarError(f"at most {MAX_IMPORTED_EVENTS} events per import")
    parsed = {str(c["UID"]): ParsedEvent(str(c["UID"]), _create(c, default_zone), [])
              for c in masters}
    for component in components:
        if "RECURRENCE-ID" in component:
            _attach_override(parsed, component, default_zone)
    return list(parsed.values())


def _create(component: Any, default_zone: str) -> CreateEvent:
    start = component.decoded("DTSTART")
    all_day = not isinstance(start, datetime)
    zone = _zone_of(start, default_zone)
    end = _end(component, start)
    fields = {
        "title": str(component.get("SUMMARY", "")) or "(no title)",
        "start": start if all_day else _aware(start, zone),
        "end": end if all_day else _aware(end, zone), "timezone": zone, "all_day": all_day,
        "description": str(component.get("DESCRIPTION", "")),
        "location": str(component.get("LOCATION", "")),
        "exdates": _dates(component, "EXDATE", zone), "rdates": _dates(component, "RDATE", zone),
    }
    if "RRULE" in component:
        fields["rrule"] = component["RRULE"].to_ical().decode()
    if "TRANSP" in component:
        fields["transparency"] = str(component["TRANSP"]).lower()
    created: CreateEvent = _validated(CreateEvent, fields)
    return created


def _attach_override(parsed: dict[str, ParsedEvent], component: Any, zone: str) -> None:
    master = parsed.get(str(component["UID"]))
    if master is None:
        raise InvalidCalendarError(f"RECURRENCE-ID for unknown UID {component['UID']}")
    start = component.decoded("DTSTART")
    original = _aware(component.decoded("RECURRENCE-ID"), master.create.timezone or zone)
    fields: dict[str, Any] = {"start": _aware(start, master.create.timezone or zone),
                              "end": _aware(_end(component, start),
                                            master.create.timezone or zone)}
    for name, key in (("SUMMARY", "title"), ("LOCATION", "location")):
        if name in component:
            fields[key] = str(component[name])
    master.overrides.append((instance_key(original.astimezone(UTC)),
                             _validated(PatchInstance, fields)))


def _validated(model: Any, fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValueError as error:
        raise InvalidCalendarError(f"an event in the file is not valid: {error}") from error


def _end(component: Any, start: date | datetime) -> date | datetime:
    if "DTEND" in component:
        return component.decoded("DTEND")  # type: ignore[no-any-return]
    if "DURATION" in component:
        return start + component.decoded("DURATION")  # type: ignore[no-any-return]
    return start + timedelta(days=1) if not isinstance(start, datetime) else start


def _zone_of(start: date | datetime, default_zone: str) -> str:
    """The IANA zone of a TZID time; floating times and dates take the importer's zone."""
    if not isinstance(start, datetime) or start.tzinfo is None:
        return default_zone
    key = getattr(start.tzinfo, "key", None) or getattr(start.tzinfo, "zone", None)
    if key is None and start.utcoffset() == timedelta(0):
        return "UTC"
    return str(key) if key else default_zone


def _aware(value: date | datetime, zone: str) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, datetime.min.time(), tzinfo=ZoneInfo(zone))
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


def _dates(component: Any, name: str, zone: str) -> list[date | datetime]:
    values = component.get(name, [])
    lists = values if isinstance(values, list) else [values]
    found: list[date | datetime] = []
    for item in lists:
        for value in item.dts:
            found.append(_aware(value.dt, zone) if isinstance(value.dt, datetime)
                         else value.dt)
    return found
