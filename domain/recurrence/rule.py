"""The RRULE grammar (RFC 5545 §3.3.10): a rule value read, part by part, into a ``_Rule``.

Each part is checked on its own here (names, value syntax and ranges); what the parts
mean together is checked in ``domain.recurrence.validation``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Final, Literal

from dateutil import rrule as du

from domain.errors import InvalidRecurrenceError

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

_MAX_INTEGER: Final = 2**31 - 1

_BYDAY_ITEM: Final = re.compile(r"(?:([+-]?)(\d{1,2}))?(MO|TU|WE|TH|FR|SA|SU)")
_SIGNED_NUMBER: Final = re.compile(r"[+-]?\d{1,3}")
_UNSIGNED_NUMBER: Final = re.compile(r"\d{1,3}")
_POSITIVE_INTEGER: Final = re.compile(r"\d{1,12}")
_UNTIL_VALUE: Final = re.compile(r"(\d{8})(?:T(\d{6})(Z?))?")

# Parts whose meaning depends on the instances before the window: no skipping ahead.
_HISTORY_PARTS: Final = frozenset({"BYSETPOS", "BYWEEKNO", "BYYEARDAY"})


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


def _invalid(message: str) -> InvalidRecurrenceError:
    return InvalidRecurrenceError(f"invalid RRULE: {message}")


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
