"""Expansion of recurring calendar series (RFC 5545 §3.3.10 RECUR, §3.8.5 recurrence).

A series is anchored at DTSTART and expanded in the *wall-clock* time of its IANA zone: a
09:00 Europe/Paris weekly meeting stays at 09:00 local across DST changes, so its UTC
instant moves.  ``dateutil.rrule`` generates naive local times; only then is the zone
attached and the instant taken.

Wall-clock edge cases (RFC 5545 §3.3.5):

* A local time that does not exist (spring-forward gap) is interpreted with the UTC offset
  in effect *before* the gap: 02:30 on a New York spring-forward day becomes 03:30 EDT.
  ``zoneinfo`` does exactly this for ``fold=0``.
* A local time that occurs twice (fall-back overlap) means its first occurrence (``fold=0``).
* Two wall times can thus name one instant; instances are unique by their UTC instant.

Further decisions:

* DTSTART is always an instance, even when the rule would not produce it (RFC 2445 said so;
  RFC 5545 §3.8.5.3 leaves an unsynchronised DTSTART undefined).  COUNT includes it, as
  §3.3.10 says "the DTSTART property value always counts as the first occurrence".
* UNTIL in UTC form (``...Z``) bounds the instance's instant (§3.3.10); a date-only UNTIL is
  inclusive through that local date; a floating date-time UNTIL is read as local time.
* Recurring instances have whole-second precision (a DATE-TIME has no fractions, §3.3.5).
* BYSECOND=60 is accepted (§3.3.10) but never produced: a leap second has no datetime.
* Rule instances are generated for years 2 to 9998 only.
* An occurrence lies in a window [a, b) when ``start < b and end > a``; a zero-length one
  (end == start) is a point and lies in the window when ``a <= start < b``, so that a
  window split in two never loses it.

Cost is bounded: the rule is iterated from a shifted DTSTART just before the window, a whole
number of periods after the original one, instead of from DTSTART (``_skip_ahead``):

* without COUNT, for every rule without BYSETPOS, BYWEEKNO or BYYEARDAY
  (``_aligned_dtstart``);
* with COUNT, when the number of instances per period is known without iterating, so that
  the instances before the shifted DTSTART are counted by arithmetic and taken off the
  COUNT: SECONDLY..WEEKLY rules whose only parts are plain BYDAY, BYHOUR, BYMINUTE and
  BYSECOND (``_FixedCadence``), and MONTHLY and YEARLY rules without BYSETPOS, BYWEEKNO or
  BYYEARDAY, counted per calendar shape over the 400-year Gregorian cycle
  (``_CalendarCadence``).  COUNT counts generated wall times, as dateutil does: a DST gap
  that makes two wall times one instant leaves one instance but uses up two.

Other rules iterate from DTSTART and stop as soon as instances pass the window; when more
than 200 000 instances would have to be passed over on the way (say
``FREQ=SECONDLY;BYYEARDAY=1;COUNT=1000000000`` asked about a year later),
TooManyInstancesError is raised instead of spending seconds on it.  A rule that can never
produce an instance from its DTSTART (``FREQ=DAILY;INTERVAL=7;BYDAY=TU`` from a Monday) is
recognised as such instead of being searched up to the year 9999, for the SECONDLY..WEEKLY
shapes above and for MONTHLY and YEARLY rules with COUNT.  ``ExpansionStats`` counts the
work done.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as du

from domain.errors import InvalidRecurrenceError, TooManyInstancesError

MAX_INSTANCES_PER_QUERY = 10_000


@dataclass(frozen=True)
class InstanceOverride:
    """A changed instance of a series (RFC 5545 §3.8.4.4 RECURRENCE-ID)."""

    start: datetime
    end: datetime
    title: str | None = None
    location: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Series:
    """A recurring (or single) event as far as its timing is concerned."""

    start: datetime
    end: datetime
    timezone: str
    rrule: str | None = None
    exdates: tuple[datetime, ...] = ()
    rdates: tuple[datetime, ...] = ()
    overrides: Mapping[datetime, InstanceOverride] = field(default_factory=dict)
    cancelled: frozenset[datetime] = frozenset()


@dataclass(frozen=True)
class Occurrence:
    """One instance of a series; all datetimes are UTC."""

    original_start: datetime
    start: datetime
    end: datetime
    override: InstanceOverride | None


@dataclass
class ExpansionStats:
    """What expansions cost, in work rather than seconds: pass one to ``expand``.

    ``rule_iterations`` counts the rule instances drawn from the RRULE iterator (dateutil),
    those passed over on the way to the window included; ``counted_without_iterating``
    counts the COUNT instances before the window that the skip-ahead accounted for by
    arithmetic instead.  One object may accumulate over many calls.  The one-off work of
    analysing a rule (``_rule_setup``), cached per rule and DTSTART, is not counted: it does
    not depend on the window."""

    rule_iterations: int = 0
    counted_without_iterating: int = 0


# -- instance keys ------------------------------------------------------------------------

_INSTANCE_KEY: Final = re.compile(r"\d{8}T\d{6}Z")
_INSTANCE_KEY_FORMAT: Final = "%Y%m%dT%H%M%SZ"


def instance_key(original_start_utc: datetime) -> str:
    """The RECURRENCE-ID of an instance as a UTC DATE-TIME (RFC 5545 §3.3.5 form #2)."""
    return _utc(original_start_utc, "original_start_utc").strftime(_INSTANCE_KEY_FORMAT)


def parse_instance_key(key: str) -> datetime:
    """Inverse of ``instance_key``; raises ValueError on anything else."""
    if not _INSTANCE_KEY.fullmatch(key):
        raise ValueError(f"instance key {key!r} is not of the form 20261124T140000Z")
    return datetime.strptime(key, _INSTANCE_KEY_FORMAT).replace(tzinfo=UTC)


# -- RRULE parsing (RFC 5545 §3.3.10) -----------------------------------------------------

_Frequency = Literal[0, 1, 2, 3, 4, 5, 6]

_FREQUENCIES: Final[dict[str, _Frequency]] = {
    "YEARLY": du.YEARLY,
    "MONTHLY": du.MONTHLY,
    "WEEKLY": du.WEEKLY,
    "DAILY": du.DAILY,
    "HOURLY": du.HOURLY,
    "MINUTELY": du.MINUTELY,
    "SECONDLY": du.SECONDLY,
}
_WEEKDAYS: Final = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}

# part -> (smallest magnitude, largest magnitude, negative values allowed)
_NUMBER_PARTS: Final = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_PART_NAMES: Final = frozenset({"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYDAY", "WKST"}) | set(
    _NUMBER_PARTS
)
# §3.3.10 restricts some BYxxx parts to some frequencies.
_FREQUENCIES_ALLOWING: Final[dict[str, set[_Frequency]]] = {
    "BYWEEKNO": {du.YEARLY},
    "BYYEARDAY": {du.YEARLY, du.HOURLY, du.MINUTELY, du.SECONDLY},
    "BYMONTHDAY": set(_FREQUENCIES.values()) - {du.WEEKLY},
}
_MAX_RRULE_LENGTH: Final = 1000
_MAX_INTEGER: Final = 2**31 - 1
_LISTING_LIMIT: Final = 10_000

_BYDAY_ITEM: Final = re.compile(r"(?:([+-]?)(\d{1,2}))?(MO|TU|WE|TH|FR|SA|SU)")
_SIGNED_NUMBER: Final = re.compile(r"[+-]?\d{1,3}")
_UNSIGNED_NUMBER: Final = re.compile(r"\d{1,3}")
_POSITIVE_INTEGER: Final = re.compile(r"\d{1,12}")
_UNTIL_VALUE: Final = re.compile(r"(\d{8})(?:T(\d{6})(Z?))?")


@dataclass(frozen=True)
class _Until:
    """UNTIL as an instant (UTC form) or as an inclusive local wall time (DATE or floating)."""

    instant: datetime | None
    wall: datetime | None


@dataclass(frozen=True)
class _Rule:
    freq: _Frequency
    interval: int
    count: int | None
    until: _Until | None
    numbers: Mapping[str, tuple[int, ...]]
    weekdays: tuple[du.weekday, ...]
    wkst: int


def validate_rrule(value: str) -> None:
    """Raise InvalidRecurrenceError, saying what is wrong, unless ``value`` is a supported
    RFC 5545 §3.3.10 RRULE value (without the ``RRULE:`` prefix)."""
    _parse_rule(value)


@lru_cache(maxsize=4096)
def _parse_rule(value: str) -> _Rule:
    _check_envelope(value)
    rule = _build_rule(_split_parts(value))
    _check_combinations(rule)
    return rule


def _invalid(message: str) -> InvalidRecurrenceError:
    return InvalidRecurrenceError(f"invalid RRULE: {message}")


def _check_envelope(value: str) -> None:
    if len(value) > _MAX_RRULE_LENGTH:
        raise _invalid(f"{len(value)} characters long; the limit is {_MAX_RRULE_LENGTH}")
    if value[:6].upper() == "RRULE:":
        raise _invalid("give the value without the 'RRULE:' prefix")
    if not value:
        raise _invalid("empty")


def _split_parts(value: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in value.split(";"):
        name, separator, raw = chunk.partition("=")
        name = name.upper()  # §2.1: names and enumerated values are case-insensitive
        if not (separator and name and raw):
            raise _invalid(f"rule part {chunk!r} is not of the form NAME=VALUE")
        if name not in _PART_NAMES:
            raise _invalid(f"unknown rule part {name!r}")
        if name in parts:
            raise _invalid(f"rule part {name} appears more than once")
        parts[name] = raw.upper()
    return parts


def _build_rule(parts: dict[str, str]) -> _Rule:
    if "FREQ" not in parts:
        raise _invalid("FREQ is required")
    return _Rule(
        freq=_frequency(parts["FREQ"]),
        interval=_positive_integer(parts, "INTERVAL") or 1,
        count=_positive_integer(parts, "COUNT"),
        until=_until(parts["UNTIL"]) if "UNTIL" in parts else None,
        numbers={name: _numbers(name, raw) for name, raw in parts.items() if name in _NUMBER_PARTS},
        weekdays=_weekdays(parts["BYDAY"]) if "BYDAY" in parts else (),
        wkst=_weekday_code("WKST", parts.get("WKST", "MO")),
    )


def _frequency(raw: str) -> _Frequency:
    if raw not in _FREQUENCIES:
        raise _invalid(f"FREQ must be one of {', '.join(_FREQUENCIES)}; got {raw!r}")
    return _FREQUENCIES[raw]


def _positive_integer(parts: dict[str, str], name: str) -> int | None:
    raw = parts.get(name)
    if raw is None:
        return None
    if not _POSITIVE_INTEGER.fullmatch(raw) or not 1 <= int(raw) <= _MAX_INTEGER:
        raise _invalid(f"{name} must be an integer from 1 to {_MAX_INTEGER}; got {raw!r}")
    return int(raw)


def _numbers(name: str, raw: str) -> tuple[int, ...]:
    return tuple(_number(name, item) for item in raw.split(","))


def _number(name: str, item: str) -> int:
    low, high, signed = _NUMBER_PARTS[name]
    pattern = _SIGNED_NUMBER if signed else _UNSIGNED_NUMBER
    if pattern.fullmatch(item) and low <= abs(int(item)) <= high:
        return int(item)
    allowed = f"-{high} to -{low} or {low} to {high}" if signed else f"{low} to {high}"
    raise _invalid(f"{name} values must be integers from {allowed}; got {item!r}")


def _weekday_code(name: str, raw: str) -> int:
    if raw not in _WEEKDAYS:
        raise _invalid(f"{name} must be one of {', '.join(_WEEKDAYS)}; got {raw!r}")
    return _WEEKDAYS[raw]


def _weekdays(raw: str) -> tuple[du.weekday, ...]:
    return tuple(_weekday_item(item) for item in raw.split(","))


def _weekday_item(item: str) -> du.weekday:
    match = _BYDAY_ITEM.fullmatch(item)
    if match is None:
        raise _invalid(f"BYDAY value {item!r} is not a weekday like MO, 1FR or -2MO")
    sign, digits, code = match.groups()
    if digits is None:
        return du.weekday(_WEEKDAYS[code])
    if not 1 <= int(digits) <= 53:
        raise _invalid(f"BYDAY ordinal in {item!r} must be from 1 to 53 (or -53 to -1)")
    return du.weekday(_WEEKDAYS[code], -int(digits) if sign == "-" else int(digits))


def _until(raw: str) -> _Until:
    match = _UNTIL_VALUE.fullmatch(raw)
    if match is None:
        raise _invalid(f"UNTIL must be a DATE like 20261231 or a DATE-TIME like "
                       f"20261231T235959Z; got {raw!r}")
    day, clock, utc_marker = match.groups()
    if clock is None:
        return _Until(None, datetime.combine(_stamp(day, "%Y%m%d"), time.max))
    moment = _stamp(day + clock, "%Y%m%d%H%M%S")
    return _Until(moment.replace(tzinfo=UTC), None) if utc_marker else _Until(None, moment)


def _stamp(text: str, pattern: str) -> datetime:
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        raise _invalid(f"UNTIL {text!r} is not a valid date or time") from None


def _check_combinations(rule: _Rule) -> None:
    if rule.count is not None and rule.until is not None:
        raise _invalid("COUNT and UNTIL must not both be given (RFC 5545 §3.3.10)")
    for name, frequencies in _FREQUENCIES_ALLOWING.items():
        if name in rule.numbers and rule.freq not in frequencies:
            raise _invalid(f"{name} is not allowed with FREQ={du.FREQNAMES[rule.freq]}")
    if "BYSETPOS" in rule.numbers:
        _check_set_positions(rule)
    _check_ordinal_weekdays(rule)
    _check_some_day_matches(rule)


def _check_set_positions(rule: _Rule) -> None:
    if not (rule.weekdays or len(rule.numbers) > 1):
        raise _invalid("BYSETPOS needs another BYxxx rule part to select from")
    # A position beyond every period's candidates would have dateutil search to year 9999.
    most = _most_candidates_per_period(rule)
    if min(abs(position) for position in rule.numbers["BYSETPOS"]) > most:
        raise _invalid(f"BYSETPOS can never select anything: a FREQ={du.FREQNAMES[rule.freq]} "
                       f"period has at most {most} candidates")


def _most_candidates_per_period(rule: _Rule) -> int:
    days = {du.YEARLY: 366, du.MONTHLY: 31, du.WEEKLY: 7}.get(rule.freq, 1)
    finer_parts = ("BYHOUR", "BYMINUTE", "BYSECOND")[max(rule.freq - du.DAILY, 0):]
    times = 1
    for part in finer_parts:  # a part left out is one value taken from DTSTART
        times *= len(set(rule.numbers.get(part, (0,))))
    return days * times


def _check_ordinal_weekdays(rule: _Rule) -> None:
    ordinals = [day.n for day in rule.weekdays if day.n]
    if not ordinals:
        return
    if rule.freq not in (du.MONTHLY, du.YEARLY):
        raise _invalid("BYDAY ordinals such as 1FR need FREQ=MONTHLY or FREQ=YEARLY")
    if "BYWEEKNO" in rule.numbers:
        raise _invalid("BYDAY ordinals such as 1FR cannot be combined with BYWEEKNO")
    within_month = rule.freq == du.MONTHLY or "BYMONTH" in rule.numbers
    if within_month and any(abs(n) > 5 for n in ordinals):
        raise _invalid("a BYDAY ordinal within a month must be from -5 to 5")


def _check_some_day_matches(rule: _Rule) -> None:
    # Without this, dateutil would search up to the year 9999 for a first instance.
    if not {"BYMONTH", "BYMONTHDAY", "BYYEARDAY"} & rule.numbers.keys():
        return
    if not any(_day_matches(rule.numbers, facts) for facts in _SAMPLE_DAYS):
        raise _invalid("BYMONTH, BYMONTHDAY and BYYEARDAY together exclude every day")


def _day_facts(day: date) -> tuple[int, int, int, int, int]:
    """(month, day of month, negative day of month, day of year, negative day of year)."""
    month_length = calendar.monthrange(day.year, day.month)[1]
    year_length = 366 if calendar.isleap(day.year) else 365
    day_of_year = day.timetuple().tm_yday
    return (day.month, day.day, day.day - month_length - 1, day_of_year,
            day_of_year - year_length - 1)


# Every day of one common and one leap year covers every (month, day) combination.
_SAMPLE_DAYS: Final = tuple(
    _day_facts(date(2023, 1, 1) + timedelta(days=offset)) for offset in range(365 + 366)
)


def _day_matches(numbers: Mapping[str, tuple[int, ...]], facts: tuple[int, ...]) -> bool:
    month, month_day, negative_month_day, year_day, negative_year_day = facts
    checks = (
        ("BYMONTH", (month,)),
        ("BYMONTHDAY", (month_day, negative_month_day)),
        ("BYYEARDAY", (year_day, negative_year_day)),
    )
    return all(
        name not in numbers or any(value in numbers[name] for value in values)
        for name, values in checks
    )


# -- expansion context --------------------------------------------------------------------

_EPSILON: Final = timedelta(microseconds=1)
_FIRST_INSTANT: Final = datetime(2, 1, 1, tzinfo=UTC)
_LAST_INSTANT: Final = datetime(9998, 12, 31, tzinfo=UTC)
_LAST_WALL: Final = datetime(9998, 12, 31)
_ALL_YEARS: Final = datetime.max - datetime.min
_FIXED_PERIODS: Final = {
    du.WEEKLY: timedelta(weeks=1),
    du.DAILY: timedelta(days=1),
    du.HOURLY: timedelta(hours=1),
    du.MINUTELY: timedelta(minutes=1),
    du.SECONDLY: timedelta(seconds=1),
}
# Parts whose meaning depends on the instances before the window: no skipping ahead.
_HISTORY_PARTS: Final = frozenset({"BYSETPOS", "BYWEEKNO", "BYYEARDAY"})
# Iterating from DTSTART stops being worth it (a dense COUNT or BYSETPOS rule far from
# DTSTART, a very dense period): about a second of dateutil iteration.
_MAX_PASSED_OVER: Final = 200_000


@dataclass(frozen=True)
class _Context:
    """A series prepared for expansion: its rule parsed, its instants in UTC."""

    zone: ZoneInfo
    rule_text: str | None
    rule: _Rule | None
    first_wall: datetime
    start: datetime
    duration: timedelta
    extras: frozenset[datetime]
    excluded: frozenset[datetime]
    overrides: Mapping[datetime, InstanceOverride]
    until_stop: datetime
    stats: ExpansionStats


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime


def _context(series: Series, stats: ExpansionStats | None = None) -> _Context:
    start, end = _utc(series.start, "series start"), _utc(series.end, "series end")
    if end < start:
        raise ValueError("series end precedes its start")
    zone = _zone(series.timezone)
    rule = None if series.rrule is None else _parse_rule(series.rrule)
    first_wall = _wall(series.start, zone).replace(microsecond=0)
    return _Context(
        zone=zone,
        rule_text=series.rrule,
        rule=rule,
        first_wall=first_wall,
        start=start,
        duration=end - start,
        extras=frozenset({start, *_utc_all(series.rdates, "rdate")}),
        excluded=frozenset(_utc_all((*series.exdates, *series.cancelled), "exdate")),
        overrides={_utc(key, "override key"): value for key, value in series.overrides.items()},
        until_stop=_until_stop(rule, zone),
        stats=ExpansionStats() if stats is None else stats,
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRecurrenceError(f"unknown time zone {name!r}") from None


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime; got {moment!r}")
    return moment.astimezone(UTC)


def _utc_all(moments: Iterable[datetime], what: str) -> list[datetime]:
    return [_utc(moment, what) for moment in moments]


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    # Via UTC: astimezone() to a datetime's own tzinfo would keep an imaginary wall time.
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)


@dataclass(frozen=True)
class _Setup:
    """A rule anchored at its DTSTART, ready for dateutil."""

    kwargs: dict[str, Any] | None  # None: the rule itself produces no instance at all
    count: int | None  # COUNT left for the rule once DTSTART has been counted
    fixed_cadence: _FixedCadence | None  # how a SECONDLY..WEEKLY rule repeats, when known
    calendar_cadence: _CalendarCadence | None  # how a MONTHLY or YEARLY COUNT rule repeats


@lru_cache(maxsize=4096)
def _rule_setup(rule_text: str, first_wall: datetime) -> _Setup:
    """dateutil keyword arguments and COUNT for the rule anchored at ``first_wall``
    (cached: a series is expanded again and again with the same rule and DTSTART)."""
    rule = _parse_rule(rule_text)
    kwargs = _rule_kwargs(rule, first_wall)
    fixed = months = None
    if kwargs is not None:
        fixed = _fixed_cadence(rule, kwargs, first_wall)
        if rule.count is not None:  # worked out where COUNT needs it only: it costs a little
            months = _calendar_cadence(rule, kwargs, first_wall)
    if (fixed is not None and fixed.per_span == 0) or (months and not months.cumulative[-1]):
        # e.g. FREQ=DAILY;INTERVAL=7;BYDAY=TU from a Monday: dateutil would search up to
        # the year 9999 for an instance that never comes.
        kwargs = None
    return _Setup(kwargs, _count_after_dtstart(rule, kwargs, first_wall), fixed, months)


def _rule_kwargs(rule: _Rule, first_wall: datetime) -> dict[str, Any] | None:
    seconds = rule.numbers.get("BYSECOND")
    if seconds is not None and set(seconds) == {60}:
        return None  # only leap seconds: nothing a datetime can hold
    kwargs: dict[str, Any] = {
        "interval": rule.interval,
        "wkst": rule.wkst,
        "byweekday": rule.weekdays or None,
        **{name.lower(): values for name, values in rule.numbers.items()},
    }
    if seconds is not None:
        kwargs["bysecond"] = tuple(second for second in seconds if second != 60)
    return _pin_implicit_parts(kwargs, rule.freq, first_wall)


def _pin_implicit_parts(kwargs: dict[str, Any], freq: int, first: datetime) -> dict[str, Any]:
    """Spell out what dateutil would derive from DTSTART, so a shifted DTSTART (see
    ``_aligned_dtstart``) keeps the original day and time of the instances."""
    day_parts = ("byweekno", "byyearday", "bymonthday", "byweekday")
    if not any(kwargs.get(part) for part in day_parts):
        if freq == du.YEARLY:
            kwargs.setdefault("bymonth", (first.month,))
        if freq in (du.YEARLY, du.MONTHLY):
            kwargs["bymonthday"] = (first.day,)
        if freq == du.WEEKLY:
            kwargs["byweekday"] = (first.weekday(),)
    for part, finer, value in (
        ("byhour", du.HOURLY, first.hour),
        ("byminute", du.MINUTELY, first.minute),
        ("bysecond", du.SECONDLY, first.second),
    ):
        if freq < finer:
            kwargs.setdefault(part, (value,))
    return kwargs


def _count_after_dtstart(rule: _Rule, kwargs: dict[str, Any] | None, first: datetime
                         ) -> int | None:
    """How many instances the rule itself must produce once DTSTART has been counted."""
    if rule.count is None or kwargs is None:
        return rule.count
    probe = _build_rrule(rule.freq, first, None, kwargs)
    first_generated = None if probe is None else next(_walls(probe), None)
    return rule.count if first_generated == first else rule.count - 1


# -- how rule instances repeat: COUNT without iterating -----------------------------------

_PERIOD_SECONDS: Final = {du.WEEKLY: 604_800, du.DAILY: 86_400, du.HOURLY: 3_600,
                          du.MINUTELY: 60, du.SECONDLY: 1}
_WEEK_SECONDS: Final = 604_800
# Besides plain BYDAY (ordinals are for MONTHLY and YEARLY only), the parts whose effect
# repeats with a fixed period of wall time.
_FIXED_CADENCE_PARTS: Final = frozenset({"BYHOUR", "BYMINUTE", "BYSECOND"})
# A part that keeps or drops whole periods repeats after a week, a day, an hour, a minute.
_FILTER_CYCLES: Final = {"byweekday": 604_800, "byhour": 86_400, "byminute": 3_600,
                         "bysecond": 60}
# (unit, modulus): a second of the week (from Monday 00:00) -> weekday, hour, minute, second
_FIELD_OF_WEEK_SECOND: Final = {"byweekday": (86_400, 7), "byhour": (3_600, 24),
                                "byminute": (60, 60), "bysecond": (1, 60)}
_MAX_CADENCE_STEPS: Final = 20_000
_LONGEST_SPAN_SECONDS: Final = int(_ALL_YEARS.total_seconds())
_TIME_PARTS: Final = ("byhour", "byminute", "bysecond")


@dataclass(frozen=True)
class _FixedCadence:
    """The instances of a SECONDLY..WEEKLY rule, extended to before DTSTART, repeat every
    ``span`` of wall time (a whole number of INTERVALs), ``per_span`` of them each time."""

    span: timedelta
    per_span: int


def _fixed_cadence(rule: _Rule, kwargs: dict[str, Any], first: datetime
                   ) -> _FixedCadence | None:
    """How a SECONDLY..WEEKLY rule repeats, or None when that is not worked out here.

    With FREQ, INTERVAL, plain BYDAY, BYHOUR, BYMINUTE and BYSECOND only, each part either
    expands every period into the same set of instances (BYDAY for WEEKLY, BYHOUR for DAILY
    and WEEKLY, ...) or keeps or drops whole periods by their weekday, hour, minute or second
    (BYDAY for DAILY, BYHOUR for HOURLY, ...: the table of RFC 5545 §3.3.10).  The rule then
    repeats after the least common multiple of its period and the cycle of its coarsest
    filter.  Wall time, not UTC: a DST change moves no wall time and merges none, so it
    changes no count.  BYMONTH, BYMONTHDAY, BYYEARDAY and BYSETPOS follow month lengths or
    the instances around: None."""
    if rule.freq not in _PERIOD_SECONDS or rule.numbers.keys() - _FIXED_CADENCE_PARTS:
        return None
    step = _PERIOD_SECONDS[rule.freq] * rule.interval
    filters = _period_filters(rule.freq, kwargs)
    span = math.lcm(step, max((_FILTER_CYCLES[name] for name in filters), default=step))
    if span > _LONGEST_SPAN_SECONDS or span // step > _MAX_CADENCE_STEPS:
        return None  # a span beyond every datetime needs no skipping; a huge one is not worth it
    origin = first.weekday() * 86_400 + first.hour * 3_600 + first.minute * 60 + first.second
    checks = [(*_FIELD_OF_WEEK_SECOND[name], values) for name, values in filters.items()]
    kept = sum(1 for n in range(span // step)
               if all((origin + n * step) % _WEEK_SECONDS // unit % modulus in values
                      for unit, modulus, values in checks))
    return _FixedCadence(timedelta(seconds=span), kept * _expansion(rule.freq, kwargs))


def _weekday_numbers(values: Iterable[int | du.weekday]) -> frozenset[int]:
    return frozenset(value if isinstance(value, int) else value.weekday for value in values)


def _period_filters(freq: int, kwargs: dict[str, Any]) -> dict[str, frozenset[int]]:
    """The parts that keep or drop whole periods of a SECONDLY..DAILY rule."""
    coarsest_filtered = {"byweekday": du.DAILY, "byhour": du.HOURLY, "byminute": du.MINUTELY,
                         "bysecond": du.SECONDLY}
    filters: dict[str, frozenset[int]] = {}
    for name, least_freq in coarsest_filtered.items():
        values = kwargs.get(name)
        if freq >= least_freq and values:
            filters[name] = _weekday_numbers(values) if name == "byweekday" else frozenset(values)
    return filters


def _expansion(freq: int, kwargs: dict[str, Any]) -> int:
    """Instances per kept period: the product of the sizes of the expanding parts."""
    size = len(_weekday_numbers(kwargs["byweekday"])) if freq == du.WEEKLY else 1
    for name, finer in zip(_TIME_PARTS, (du.HOURLY, du.MINUTELY, du.SECONDLY), strict=True):
        if freq < finer:  # pinned from DTSTART when the rule does not give it
            size *= len(set(kwargs[name]))
    return size


@dataclass(frozen=True)
class _CalendarCadence:
    """Rule instances of a MONTHLY or YEARLY rule per period, counted without iterating.

    Period n is the month (or the year) ``first_month + n * months``, as a month index
    ``year * 12 + month - 1``.  How many instances a period holds depends only on the shape
    of its calendar (length, weekday of the first day, the month), and the calendar repeats
    every 400 years, so one cycle of periods tells every count."""

    months: int
    first_month: int
    in_first_period: int  # instances of period 0 from DTSTART on
    cumulative: tuple[int, ...]  # cumulative[n]: instances in whole periods 0..n-1

    def before_period(self, periods: int) -> int:
        """Rule instances from DTSTART up to the start of period ``periods`` (at least 1)."""
        return self.in_first_period + self._whole_periods(periods) - self._whole_periods(1)

    def _whole_periods(self, periods: int) -> int:
        cycle = len(self.cumulative) - 1
        cycles, rest = divmod(periods, cycle)
        return cycles * self.cumulative[cycle] + self.cumulative[rest]


def _calendar_cadence(rule: _Rule, kwargs: dict[str, Any], first: datetime
                      ) -> _CalendarCadence | None:
    """How a MONTHLY or YEARLY rule repeats; None for BYSETPOS, BYWEEKNO and BYYEARDAY.
    Costs a pass over one 400-year cycle of periods and a dateutil run over the days of each
    calendar shape met (at most 14 years or 91 months): a few milliseconds, once per rule
    and DTSTART."""
    if rule.freq not in (du.MONTHLY, du.YEARLY) or _HISTORY_PARTS & rule.numbers.keys():
        return None
    yearly = rule.freq == du.YEARLY
    months = rule.interval * 12 if yearly else rule.interval
    first_month = first.year * 12 + (0 if yearly else first.month - 1)
    # One period only: with this INTERVAL the next one is past the year 9999, where dateutil
    # stops (it would otherwise search on through periods without instances).
    days_only = {**kwargs, "interval": 10_000 * (1 if yearly else 12),
                 "byhour": (0,), "byminute": (0,), "bysecond": (0,)}
    times = tuple(tuple(sorted(set(kwargs[name]))) for name in _TIME_PARTS)
    per_day = math.prod(len(values) for values in times)
    periods = _cycle_periods(yearly)
    step, origin = (rule.interval, first.year - 2000) if yearly else (months, first_month - 24_000)
    found: dict[tuple[int, int, int], tuple[int, ...]] = {}
    cumulative = [0]
    for period in range(len(periods) // math.gcd(step, len(periods))):
        days = _period_days(rule.freq, days_only, periods[(origin + period * step) % len(periods)],
                            found)
        cumulative.append(cumulative[-1] + len(days) * per_day)
    first_start = periods[origin % len(periods)]
    first_days = _period_days(rule.freq, days_only, first_start, found)
    day_of_first = (_in_cycle(first.date()) - first_start).days
    in_first_period = sum(per_day for day in first_days if day > day_of_first)
    if day_of_first in first_days:
        in_first_period += _times_from(times, first.time())
    return _CalendarCadence(months, first_month, in_first_period, tuple(cumulative))


def _in_cycle(day: date) -> date:
    """The same day in the years 2000..2399 (the calendar repeats every 400 years)."""
    return day.replace(year=2000 + (day.year - 2000) % 400)


@lru_cache(maxsize=2)
def _cycle_periods(yearly: bool) -> tuple[date, ...]:
    """The first days of the years (or the months) 2000..2399: one cycle of the calendar."""
    if yearly:
        return tuple(date(year, 1, 1) for year in range(2000, 2400))
    return tuple(date(year, month, 1) for year in range(2000, 2400) for month in range(1, 13))


def _period_days(freq: _Frequency, days_only: dict[str, Any], start: date,
                 found: dict[tuple[int, int, int], tuple[int, ...]]) -> tuple[int, ...]:
    """The days (as offsets from ``start``) with instances in the period starting there;
    ``found`` remembers them by the shape of the period's calendar."""
    if freq == du.YEARLY:
        shape = (0, 366 if calendar.isleap(start.year) else 365, start.weekday())
    else:
        if "bymonth" in days_only and start.month not in days_only["bymonth"]:
            return ()
        length = calendar.monthrange(start.year, start.month)[1]
        shape = (start.month if "bymonth" in days_only else 0, length, start.weekday())
    if shape not in found:
        rule = _build_rrule(freq, datetime.combine(start, time()), None, days_only)
        walls = () if rule is None else _walls(rule)
        found[shape] = tuple((wall.date() - start).days for wall in walls)
    return found[shape]


def _times_from(times: tuple[tuple[int, ...], ...], moment: time) -> int:
    """How many (hour, minute, second) combinations are at ``moment`` or later."""
    hours, minutes, seconds = times
    later = sum(1 for hour in hours if hour > moment.hour) * len(minutes) * len(seconds)
    if moment.hour in hours:
        later += sum(1 for minute in minutes if minute > moment.minute) * len(seconds)
        if moment.minute in minutes:
            later += sum(1 for second in seconds if second >= moment.second)
    return later


def _until_stop(rule: _Rule | None, zone: ZoneInfo) -> datetime:
    """A wall time from which on no instance can be within UNTIL."""
    if rule is None or rule.until is None:
        return _LAST_WALL
    if rule.until.wall is not None:
        return min(rule.until.wall, _LAST_WALL) + _EPSILON
    assert rule.until.instant is not None
    return _wall_ceiling(zone, rule.until.instant + _EPSILON)


# -- wall time <-> instant ----------------------------------------------------------------

_OFFSET_PROBES: Final = 72
_OFFSET_PROBE_STEP: Final = timedelta(hours=1)


def _instant(context: _Context, wall: datetime) -> datetime:
    if wall == context.first_wall:
        return context.start  # keeps DTSTART's own fold and fraction of a second
    # fold=0: the first of two equal wall times; the pre-gap offset in a gap (§3.3.5)
    return wall.replace(tzinfo=context.zone, fold=0).astimezone(UTC)


def _wall_floor(zone: ZoneInfo, moment: datetime) -> datetime:
    """A wall time before which no wall time maps to ``moment`` or later."""
    moment = _clamp(moment)
    smallest, _ = _offset_extremes(zone, _whole_hour(moment))
    return (moment + smallest).replace(tzinfo=None)


def _wall_ceiling(zone: ZoneInfo, moment: datetime) -> datetime:
    """A wall time from which on every wall time maps to ``moment`` or later."""
    moment = _clamp(moment)
    _, largest = _offset_extremes(zone, _whole_hour(moment))
    return (moment + largest).replace(tzinfo=None)


@lru_cache(maxsize=4096)
def _offset_extremes(zone: ZoneInfo, moment: datetime) -> tuple[timedelta, timedelta]:
    """Smallest and largest UTC offset of ``zone`` within three days of ``moment``.

    A wall time maps to an instant through one of these offsets whenever either lies
    within two days of ``moment``; the third day covers gaps of up to a day (Samoa 2011),
    whose wall times use the offset from before the gap."""
    offsets = {
        _utc_offset(zone, moment + _OFFSET_PROBE_STEP * step)
        for step in range(-_OFFSET_PROBES, _OFFSET_PROBES + 1)
    }
    return min(offsets), max(offsets)


def _utc_offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta()


def _clamp(moment: datetime) -> datetime:
    return min(max(moment, _FIRST_INSTANT), _LAST_INSTANT)


def _whole_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


# -- rule instances -----------------------------------------------------------------------


def _build_rrule(freq: _Frequency, dtstart: datetime, count: int | None,
                 kwargs: dict[str, Any]) -> du.rrule | None:
    try:
        return du.rrule(freq, dtstart=dtstart, count=count, cache=False, **kwargs)
    except ValueError:
        # dateutil found the BYxxx values unreachable from DTSTART with this INTERVAL
        # (e.g. FREQ=HOURLY;INTERVAL=2;BYHOUR=3 at an even hour): no rule instances.
        return None


def _walls(rule: du.rrule) -> Iterator[datetime]:
    try:
        yield from rule
    except ValueError:  # dateutil's own "empty rule" detection, raised mid-iteration
        return


@lru_cache(maxsize=4096)
def _cached_rrule(rule_text: str, first_wall: datetime, dtstart: datetime, count: int | None
                  ) -> du.rrule | None:
    # Shifted DTSTARTs repeat too: the same week is asked for by many requests.
    kwargs = _rule_setup(rule_text, first_wall).kwargs
    if kwargs is None or count == 0:
        return None
    return _build_rrule(_parse_rule(rule_text).freq, dtstart, count, kwargs)


def _rule_walls(context: _Context, target: datetime) -> Iterator[datetime]:
    """The rule's wall times, from at most ``target`` on (and all from ``target`` on)."""
    if context.rule_text is None:
        return iter(())
    dtstart, count = _skip_ahead(context, target)
    rule = _cached_rrule(context.rule_text, context.first_wall, dtstart, count)
    return iter(()) if rule is None else _walls(rule)


def _rule_starts(context: _Context, wall_from: datetime, wall_to: datetime
                 ) -> Iterator[datetime]:
    """UTC starts of the rule instances with wall times in [wall_from, wall_to)."""
    wall_to = min(wall_to, context.until_stop)
    passed_over = 0
    for wall in _rule_walls(context, wall_from):
        context.stats.rule_iterations += 1
        if wall >= wall_to:
            return
        if wall < wall_from:
            passed_over += 1
            if passed_over > _MAX_PASSED_OVER:
                raise _too_costly()
            continue
        start = _instant(context, wall)
        if _within_until(context, wall, start):
            yield start


def _too_costly() -> TooManyInstancesError:
    return TooManyInstancesError(
        f"more than {_MAX_PASSED_OVER} instances of this rule precede the window; "
        "ask for a window nearer the start of the series"
    )


def _within_until(context: _Context, wall: datetime, start: datetime) -> bool:
    until = None if context.rule is None else context.rule.until
    if until is None:
        return True
    if until.instant is not None:
        return start <= until.instant
    assert until.wall is not None
    return wall <= until.wall


def _can_skip_ahead(rule: _Rule) -> bool:
    """Whether the rule skips ahead without COUNT (the way ``series_bounds`` needs it)."""
    return rule.count is None and not _HISTORY_PARTS & rule.numbers.keys()


def _skip_ahead(context: _Context, target: datetime) -> tuple[datetime, int | None]:
    """A DTSTART and a COUNT to iterate the rule with, so that it yields exactly the
    original rule instances from wall time ``target`` on (and maybe a few before).

    Without COUNT, see ``_aligned_dtstart``.  With COUNT, the rule instances before the
    shifted DTSTART are counted by arithmetic (``_FixedCadence``, ``_CalendarCadence``) and
    taken off the COUNT; a rule whose count per period is not worked out iterates from
    DTSTART."""
    first, rule = context.first_wall, context.rule
    assert rule is not None and context.rule_text is not None
    setup = _rule_setup(context.rule_text, first)
    if target <= first or setup.count is None or setup.kwargs is None:
        return (_aligned_dtstart(context, target) if rule.count is None else first), setup.count
    skipped = _skipped_by_count(first, target, setup)
    if skipped is None:
        return first, setup.count
    dtstart, before = skipped
    context.stats.counted_without_iterating += min(before, setup.count)
    return dtstart, max(setup.count - before, 0)


def _skipped_by_count(first: datetime, target: datetime, setup: _Setup
                      ) -> tuple[datetime, int] | None:
    """(start of a period at most ``target``, rule instances from DTSTART before it), or
    None when that is not known or not worth it (the period of DTSTART)."""
    fixed = setup.fixed_cadence
    if fixed is not None:
        periods = (target - first) // fixed.span
        if periods <= 0:
            return None
        return first + fixed.span * periods, periods * fixed.per_span
    cadence = setup.calendar_cadence
    if cadence is None:
        return None
    periods = (target.year * 12 + target.month - 1 - cadence.first_month) // cadence.months
    if periods <= 0:
        return None
    year, month = divmod(cadence.first_month + periods * cadence.months, 12)
    return datetime(year, month + 1, 1), cadence.before_period(periods)


def _aligned_dtstart(context: _Context, target: datetime) -> datetime:
    """A DTSTART at most ``target`` that starts a period of the original rule, a whole
    number of INTERVALs after the original DTSTART; iterating from it yields exactly the
    original instances from ``target`` on.  Weeks stay aligned to WKST because the shift
    is a whole number of weeks; months and years shift to their first day, the BYxxx
    values taken from the original DTSTART being pinned by ``_pin_implicit_parts``."""
    first, rule = context.first_wall, context.rule
    if rule is None or target <= first or not _can_skip_ahead(rule):
        return first
    if rule.freq == du.YEARLY:
        return _aligned_year_start(first, target, rule.interval)
    if rule.freq == du.MONTHLY:
        return _aligned_month_start(first, target, rule.interval)
    period = _scaled(_FIXED_PERIODS[rule.freq], rule.interval)
    return first + period * ((target - first) // period)


def _aligned_year_start(first: datetime, target: datetime, interval: int) -> datetime:
    periods = (target.year - first.year) // interval
    return datetime(first.year + periods * interval, 1, 1) if periods > 0 else first


def _aligned_month_start(first: datetime, target: datetime, interval: int) -> datetime:
    first_month = first.year * 12 + first.month - 1
    periods = (target.year * 12 + target.month - 1 - first_month) // interval
    if periods <= 0:
        return first
    year, month = divmod(first_month + periods * interval, 12)
    return datetime(year, month + 1, 1)


# -- expansion ----------------------------------------------------------------------------


def expand(
    series: Series,
    window_start: datetime,
    window_end: datetime,
    limit: int = MAX_INSTANCES_PER_QUERY,
    stats: ExpansionStats | None = None,
) -> list[Occurrence]:
    """The occurrences of ``series`` in [window_start, window_end), overrides applied,
    sorted by (start, original_start).  Raises TooManyInstancesError past ``limit``.
    ``stats``, when given, is told how much work the expansion did."""
    window = _Window(_utc(window_start, "window_start"), _utc(window_end, "window_end"))
    context = _context(series, stats)
    if window.end <= window.start:
        return []
    occurrences = _plain_occurrences(context, window, limit) + _moved_occurrences(context, window)
    if len(occurrences) > limit:
        raise _too_many(limit)
    return sorted(occurrences, key=lambda found: (found.start, found.original_start))


def _too_many(limit: int) -> TooManyInstancesError:
    return TooManyInstancesError(
        f"more than {limit} instances fall in the window; ask for a smaller window"
    )


def _overlaps(start: datetime, end: datetime, window: _Window) -> bool:
    if start == end:  # a point: otherwise it would fall between two adjacent windows
        return window.start <= start < window.end
    return start < window.end and end > window.start


def _is_plain(context: _Context, original: datetime) -> bool:
    return original not in context.excluded and original not in context.overrides


def _original_starts(context: _Context, start_from: datetime, start_to: datetime
                     ) -> Iterator[datetime]:
    """Original starts of the series in [start_from, start_to), and maybe a few more."""
    yield from (extra for extra in context.extras if start_from <= extra < start_to)
    if context.rule is not None:
        wall_from = _wall_floor(context.zone, start_from)
        yield from _rule_starts(context, wall_from, _wall_ceiling(context.zone, start_to))


def _plain_occurrences(context: _Context, window: _Window, limit: int) -> list[Occurrence]:
    found: dict[datetime, Occurrence] = {}
    # Clamped so that a window from datetime.min does not overflow.
    earliest_start = _clamp(window.start) - context.duration
    for original in _original_starts(context, earliest_start, window.end):
        end = original + context.duration
        if original in found or not _is_plain(context, original):
            continue
        if _overlaps(original, end, window):
            found[original] = Occurrence(original, original, end, None)
            if len(found) > limit:
                raise _too_many(limit)
    return list(found.values())


def _moved_occurrences(context: _Context, window: _Window) -> list[Occurrence]:
    return [
        Occurrence(original, start, end, override)
        for original, override, start, end in _override_times(context)
        if _overlaps(start, end, window) and _belongs(context, original)
    ]


def _override_times(context: _Context
                    ) -> Iterator[tuple[datetime, InstanceOverride, datetime, datetime]]:
    """(original start, override, new UTC start, new UTC end) of the overrides of
    instances not excluded; whether the original still belongs is checked by the caller."""
    for original, override in context.overrides.items():
        if original not in context.excluded:
            start, end = _utc(override.start, "override start"), _utc(override.end, "override end")
            yield original, override, start, end


def _belongs(context: _Context, original: datetime) -> bool:
    return original in set(_original_starts(context, original, original + _EPSILON))


# -- COUNT used up ------------------------------------------------------------------------


def count_used_before(series: Series, moment: datetime) -> int:
    """How much of the rule's COUNT is used up before ``moment``: DTSTART and the rule
    instances that start before it, counted as COUNT counts them (generated wall times, so
    two wall times that a DST gap makes one instant count twice).  RDATEs, EXDATEs,
    overrides and cancellations play no part.  What a "this and following" split leaves
    for the following series is COUNT minus this.

    Costs what a short window at ``moment`` costs when the COUNT skip-ahead applies (see
    ``_skip_ahead``); otherwise iterates from DTSTART under the same 200 000-instance guard
    as ``expand``.  Raises ValueError for a series without a COUNT rule."""
    context = _context(series)
    moment = _utc(moment, "moment")
    rule, rule_text = context.rule, context.rule_text
    if rule is None or rule_text is None or rule.count is None:
        raise ValueError("count_used_before needs a series with a COUNT rule")
    setup = _rule_setup(rule_text, context.first_wall)
    on_rule = setup.kwargs is not None and setup.count == rule.count
    used = 1 if context.start < moment and not on_rule else 0  # DTSTART, when extra
    if setup.kwargs is None or setup.count is None:
        return used
    dtstart, remaining = _skip_ahead(context, _wall_floor(context.zone, moment))
    used += setup.count - (remaining if remaining is not None else setup.count)
    rrule = _cached_rrule(rule_text, context.first_wall, dtstart, remaining)
    wall_to = _wall_ceiling(context.zone, moment)
    for iterated, wall in enumerate(() if rrule is None else _walls(rrule)):
        if wall >= wall_to:
            break
        if iterated >= _MAX_PASSED_OVER:
            raise _too_costly()
        if _instant(context, wall) < moment:
            used += 1
    return used


# -- bounds -------------------------------------------------------------------------------


def series_bounds(series: Series) -> tuple[datetime, datetime | None]:
    """Earliest start and latest end of any occurrence (overrides included), in UTC.

    The latest is None when the series never ends (no COUNT or UNTIL), when COUNT is above
    10 000, and when a rule that cannot skip ahead (BYSETPOS, BYWEEKNO, BYYEARDAY) has
    more than 10 000 instances before its UNTIL: listing them all would cost too much, and
    an open end is the safe answer.  A series left without any occurrence reports its
    DTSTART instant twice."""
    context = _context(series)
    listed = _listed_rule_starts(context)
    moved = [(start, end) for original, _, start, end in _override_times(context)
             if _bounds_member(context, listed, original)]
    earliest = _earliest_start(context, listed, [start for start, _ in moved])
    if earliest is None:
        return context.start, context.start
    return earliest, _latest_end(context, listed, [end for _, end in moved])


def _listed_rule_starts(context: _Context) -> frozenset[datetime] | None:
    """Every rule start, when the rule cannot skip ahead and has at most 10 000 of them."""
    rule = context.rule
    if rule is None:
        return frozenset()
    finite = rule.until is not None or (rule.count is not None and rule.count <= _LISTING_LIMIT)
    if _can_skip_ahead(rule) or not finite:
        return None
    every = list(islice(_rule_starts(context, context.first_wall, _LAST_WALL),
                        _LISTING_LIMIT + 1))
    return frozenset(every) if len(every) <= _LISTING_LIMIT else None


def _bounds_member(context: _Context, listed: frozenset[datetime] | None,
                   original: datetime) -> bool:
    if original in context.extras:
        return True
    if listed is not None:
        return original in listed
    try:
        return _belongs(context, original)
    except TooManyInstancesError:
        return True  # too costly to tell; counting it only widens the bounds


def _plain_extras(context: _Context) -> list[datetime]:
    return [extra for extra in context.extras if _is_plain(context, extra)]


def _earliest_start(context: _Context, listed: frozenset[datetime] | None,
                    moved_starts: list[datetime]) -> datetime | None:
    if listed is not None:
        first_of_rule = min((s for s in listed if _is_plain(context, s)), default=None)
    else:
        first_of_rule = _first_plain_rule_start(context)
    starts = [*_plain_extras(context), *moved_starts]
    if first_of_rule is not None:
        starts.append(first_of_rule)
    return min(starts, default=None)


def _first_plain_rule_start(context: _Context) -> datetime | None:
    every = _rule_starts(context, context.first_wall, _LAST_WALL)
    first = next((start for start in every if _is_plain(context, start)), None)
    if first is None:
        return None
    # A later wall time in a DST gap can map to an earlier instant.
    nearby = _rule_starts(context, context.first_wall, _wall_ceiling(context.zone, first))
    return min((start for start in nearby if _is_plain(context, start)), default=first)


def _latest_end(context: _Context, listed: frozenset[datetime] | None,
                moved_ends: list[datetime]) -> datetime | None:
    rule = context.rule
    if listed is not None:
        last_of_rule = max((s for s in listed if _is_plain(context, s)), default=None)
    elif rule is not None and rule.until is not None and _can_skip_ahead(rule):
        last_of_rule = _last_plain_start_before_until(context)
    else:
        return None  # never ends, or too many instances to find the last one
    ends = [extra + context.duration for extra in _plain_extras(context)] + moved_ends
    if last_of_rule is not None:
        ends.append(last_of_rule + context.duration)
    return max(ends, default=None)


def _last_plain_start_before_until(context: _Context) -> datetime | None:
    """Search backwards from UNTIL in chunks that double in length."""
    assert context.rule is not None
    first, wall_to = context.first_wall, context.until_stop
    span = _search_span(context.rule)
    while wall_to > first:
        wall_from = wall_to - min(span, wall_to - first)
        plain = [s for s in _rule_starts(context, wall_from, wall_to) if _is_plain(context, s)]
        if plain:
            return _latest_nearby(context, max(plain), wall_from)
        wall_to, span = wall_from, span * 2
    return None


def _search_span(rule: _Rule) -> timedelta:
    longest_period = {du.YEARLY: timedelta(days=366), du.MONTHLY: timedelta(days=31)}
    return _scaled(longest_period.get(rule.freq) or _FIXED_PERIODS[rule.freq], rule.interval * 2)


def _scaled(period: timedelta, factor: int) -> timedelta:
    """``period * factor``, but no longer than all the years a datetime can hold."""
    return min(period * min(factor, _ALL_YEARS // period), _ALL_YEARS)


def _latest_nearby(context: _Context, latest: datetime, wall_to: datetime) -> datetime:
    # A wall time in a DST gap just before the chunk can map to a later instant.
    wall_from = _wall_floor(context.zone, latest)
    earlier = _rule_starts(context, wall_from, wall_to)
    return max((start for start in earlier if _is_plain(context, start)), default=latest)
