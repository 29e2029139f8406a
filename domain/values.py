"""Value objects shared by the aggregates. Pure: standard library only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidEventError
from domain.rule_reach import check_rule_reaches_a_day

MAX_EVENT_DURATION = timedelta(days=31)
# Every instant the service stores or is asked about lies in this range, so arithmetic
# in any zone (±14 h) and any window (≤ 366 days) stays far from datetime's limits.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def in_supported_range(instant: datetime) -> bool:
    return EARLIEST <= instant < LATEST


def check_supported(*instants: datetime) -> None:
    if not all(in_supported_range(i) for i in instants):
        raise InvalidEventError("times must lie between 1900-01-01 and 2200-01-01 (UTC)")
Transparency = Literal["opaque", "transparent"]
RsvpStatus = Literal["pending", "yes", "no", "maybe"]
WeekStart = Literal["monday", "sunday"]


def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; raises InvalidEventError for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidEventError(f"unknown time zone {name!r}") from error


def is_known_zone(name: str) -> bool:
    try:
        zone(name)
    except InvalidEventError:
        return False
    return True


@dataclass(frozen=True)
class WorkingHours:
    start: str = "09:00"
    end: str = "17:00"
    days: tuple[int, ...] = (1, 2, 3, 4, 5)

    def as_record(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "days": list(self.days)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WorkingHours:
        return cls(record["start"], record["end"], tuple(record["days"]))


@dataclass(frozen=True)
class EventDetails:
    """Everything about an event except who takes part. Instants are aware; all-day
    events keep their dates as local midnight in `timezone` (end exclusive)."""

    title: str
    start: datetime
    end: datetime
    timezone: str
    all_day: bool = False
    description: str = ""
    location: str = ""
    rrule: str | None = None
    exdates: tuple[datetime, ...] = ()
    rdates: tuple[datetime, ...] = ()
    transparency: Transparency = "opaque"

    def check(self) -> None:
        """Guards every event must satisfy, whatever command produced it."""
        zone(self.timezone)
        check_supported(self.start, self.end, *self.exdates, *self.rdates)
        if self.end <= self.start:
            raise InvalidEventError("end must be after start")
        if self.end - self.start > MAX_EVENT_DURATION:
            raise InvalidEventError("an event may last at most 31 days")
        if not self.title.strip():
            raise InvalidEventError("title must not be blank")
        if self.rrule:
            local_start = self.start.astimezone(zone(self.timezone)).replace(tzinfo=None)
            check_rule_reaches_a_day(self.rrule, local_start)

    def changed(self, changes: dict[str, Any]) -> EventDetails:
        return replace(self, **changes)

    def as_record(self) -> dict[str, Any]:
        """JSON-ready form stored in domain events (ISO strings keep the stored events
        readable by any consumer, whatever its transcoder)."""
        record = asdict(self)
        record["start"], record["end"] = self.start.isoformat(), self.end.isoformat()
        record["exdates"] = [d.isoformat() for d in self.exdates]
        record["rdates"] = [d.isoformat() for d in self.rdates]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EventDetails:
        values = dict(record)
        values["start"] = datetime.fromisoformat(record["start"])
        values["end"] = datetime.fromisoformat(record["end"])
        values["exdates"] = tuple(datetime.fromisoformat(d) for d in record["exdates"])
        values["rdates"] = tuple(datetime.fromisoformat(d) for d in record["rdates"])
        return cls(**values)


def local_midnight(day: date, timezone: str) -> datetime:
    """Start of `day` in `timezone`: how all-day events are anchored."""
    return datetime.combine(day, time(0), tzinfo=zone(timezone))


def record_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready form of a partial change of EventDetails."""
    as_text = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in changes.items()}
    for key in ("exdates", "rdates"):
        if key in changes:
            as_text[key] = [d.isoformat() for d in changes[key]]
    return as_text


def parse_changes(record: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `record_changes`."""
    changes = dict(record)
    for key in ("start", "end"):
        if key in record:
            changes[key] = datetime.fromisoformat(record[key])
    for key in ("exdates", "rdates"):
        if key in record:
            changes[key] = tuple(datetime.fromisoformat(d) for d in record[key])
    return changes
