"""Command models: the validated shape of every write. Limits live here and in the
README (Limits)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.calendar_event import MAX_GUESTS
from domain.errors import InvalidRecurrenceError
from domain.recurrence import validate_rrule
from domain.values import is_known_zone

MAX_DESCRIPTION_BYTES = 8 * 1024
MAX_DATES = 1000
HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _known_zone(name: str) -> str:
    if not is_known_zone(name):
        raise ValueError(f"unknown time zone {name!r}")
    return name


def _valid_rrule(value: str) -> str:
    try:
        validate_rrule(value)
    except InvalidRecurrenceError as error:
        raise ValueError(str(error)) from error
    return value


def _description(value: str) -> str:
    if len(value.encode()) > MAX_DESCRIPTION_BYTES:
        raise ValueError("description is limited to 8 KiB")
    return value


Zone = Annotated[str, AfterValidator(_known_zone)]
Rrule = Annotated[str, Field(max_length=1000), AfterValidator(_valid_rrule)]
Title = Annotated[str, Field(min_length=1, max_length=500)]
Description = Annotated[str, AfterValidator(_description)]
Location = Annotated[str, Field(max_length=1024)]
Instant = AwareDatetime | date
Guests = Annotated[list[Annotated[str, Field(min_length=1, max_length=320)]],
                   Field(max_length=MAX_GUESTS)]
Dates = Annotated[list[Instant], Field(max_length=MAX_DATES)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WorkingHoursModel(Command):
    start: str = "09:00"
    end: str = "17:00"
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(default=[1, 2, 3, 4, 5], max_length=7)

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHoursModel:
        if not (HHMM.match(self.start) and HHMM.match(self.end)):
            raise ValueError("working hours are HH:MM")
        if self.end <= self.start:
            raise ValueError("working hours must end after they start")
        return self


class SignUp(Command):
    email: Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
    name: Annotated[str, Field(max_length=200)] = ""
    timezone: Zone
    week_start: Literal["monday", "sunday"] = "monday"
    working_hours: WorkingHoursModel = Field(default_factory=WorkingHoursModel)


class ChangeProfile(Command):
    name: Annotated[str, Field(max_length=200)] | None = None
    timezone: Zone | None = None
    week_start: Literal["monday", "sunday"] | None = None
    working_hours: WorkingHoursModel | None = None


class _EventFields(Command):
    @model_validator(mode="after")
    def _times_match_all_day(self) -> _EventFields:
        all_day = getattr(self, "all_day", None)
        for name in ("start", "end"):
            value = getattr(self, name, None)
            if value is None or all_day is None:
                continue
            if all_day and isinstance(value, datetime):
                raise ValueError(f"{name} must be a date (YYYY-MM-DD) for an all-day event")
            if not all_day and not isinstance(value, datetime):
                raise ValueError(f"{name} must be an RFC 3339 instant with an offset")
        return self


class CreateEvent(_EventFields):
    title: Title
    start: Instant
    end: Instant
    timezone: Zone | None = None
    all_day: bool = False
    location: Location = ""
    description: Description = ""
    rrule: Rrule | None = None
    exdates: Dates = Field(default_factory=list)
    rdates: Dates = Field(default_factory=list)
    guests: Guests = Field(default_factory=list)
    transparency: Literal["opaque", "transparent"] | None = None


class PatchEvent(_EventFields):
    version: Annotated[int, Field(ge=1)] | None = None
    title: Title | None = None
    start: Instant | None = None
    end: Instant | None = None
    timezone: Zone | None = None
    all_day: bool | None = None
    location: Location | None = None
    description: Description | None = None
    rrule: Rrule | None = None
    exdates: Dates | None = None
    rdates: Dates | None = None
    guests: Guests | None = None
    transparency: Literal["opaque", "transparent"] | None = None


class PatchInstance(_EventFields):
    version: Annotated[int, Field(ge=1)] | None = None
    title: Title | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    location: Location | None = None
    description: Description | None = None


class Rsvp(Command):
    status: Literal["yes", "no", "maybe"]
