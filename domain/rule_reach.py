"""Refuse MONTHLY and YEARLY rules whose parts leave no day at all after DTSTART
(`FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1`, or `BYMONTH=3` that INTERVAL=12 from January
never reaches). dateutil would search up to the year 9999 for such a rule's next
instance on every query that includes it, which would let one event slow down the views
of everyone invited to it. The Gregorian calendar repeats every 400 years, so a rule
with no day in one full cycle after DTSTART has none ever."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from domain.errors import InvalidRecurrenceError

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
CYCLE_MONTHS = 400 * 12
SKIPPED = ("BYSETPOS", "BYWEEKNO", "BYYEARDAY")  # validated elsewhere, or never empty


def check_rule_reaches_a_day(rrule: str, local_start: datetime) -> None:
    parts = _with_implied_parts(dict(p.split("=", 1) for p in rrule.upper().split(";")),
                                local_start)
    _check_no_mixed_ordinals(parts)
    if not _checkable(parts):
        return
    if _ordinals_of_the_year(parts):
        reached = any(_year_has_a_day(parts, year) for year in _years(parts, local_start))
    else:
        reached = any(_days(parts, y, m) for y, m in _months(parts, local_start))
    if not reached:
        raise InvalidRecurrenceError("the rule's parts leave no day after DTSTART")


def _check_no_mixed_ordinals(parts: dict[str, str]) -> None:
    """`BYDAY=MO,1TU` means every Monday and the first Tuesday (RFC 5545), but dateutil
    intersects the two (no day at all), so such lists are refused rather than expanded
    wrongly. `BYDAY=1MO,1TU` and `BYDAY=MO,TU` are fine."""
    items = [item for item in parts.get("BYDAY", "").split(",") if item]
    if len({bool(item[:-2]) for item in items}) > 1:
        raise InvalidRecurrenceError(
            "BYDAY may not mix weekdays with and without an ordinal (e.g. MO,1TU)")


def _with_implied_parts(parts: dict[str, str], start: datetime) -> dict[str, str]:
    """What dateutil (RFC 5545 §3.3.10) takes from DTSTART when a rule names no day."""
    if not {"BYDAY", "BYMONTHDAY", *SKIPPED} & parts.keys():
        parts["BYMONTHDAY"] = str(start.day)
        if parts["FREQ"] == "YEARLY" and "BYMONTH" not in parts:
            parts["BYMONTH"] = str(start.month)
    return parts


def _checkable(parts: dict[str, str]) -> bool:
    # COUNT rules are bounded by counting (domain.recurrence); UNTIL does not stop dateutil.
    return (parts["FREQ"] in ("MONTHLY", "YEARLY") and "COUNT" not in parts
            and not any(p in parts for p in SKIPPED)
            and ("BYDAY" in parts or "BYMONTHDAY" in parts))


def _ordinals_of_the_year(parts: dict[str, str]) -> bool:
    """YEARLY without BYMONTH: `20MO` is the twentieth Monday of the year."""
    return parts["FREQ"] == "YEARLY" and "BYMONTH" not in parts and any(
        item[:-2] for item in parts.get("BYDAY", "").split(","))


def _years(parts: dict[str, str], start: datetime) -> Iterator[int]:
    step = int(parts.get("INTERVAL", "1"))
    return iter(range(start.year + step, start.year + step + 400 * step, step))


def _year_has_a_day(parts: dict[str, str], year: int) -> bool:
    days = [date(year, 1, 1) + timedelta(days=i) for i in range(366 if calendar.isleap(
        year) else 365)]
    chosen: set[date] = set()
    for item in parts["BYDAY"].split(","):
        matching = [d for d in days if d.weekday() == WEEKDAYS.index(item[-2:])]
        ordinal = int(item[:-2]) if item[:-2] else 0
        if ordinal == 0:
            chosen.update(matching)
        elif 1 <= abs(ordinal) <= len(matching):
            chosen.add(matching[ordinal - 1] if ordinal > 0 else matching[ordinal])
    if "BYMONTHDAY" in parts:
        wanted = {int(d) for d in parts["BYMONTHDAY"].split(",")}
        chosen = {d for d in chosen if d.day in wanted
                  or d.day - calendar.monthrange(year, d.month)[1] - 1 in wanted}
    return bool(chosen)


def _months(parts: dict[str, str], start: datetime) -> Iterator[tuple[int, int]]:
    """The months the rule visits in one calendar cycle after DTSTART's period."""
    step = int(parts.get("INTERVAL", "1")) * (12 if parts["FREQ"] == "YEARLY" else 1)
    wanted = {int(m) for m in parts["BYMONTH"].split(",")} if "BYMONTH" in parts else None
    first = start.year * 12 + start.month - 1
    for index in range(first + step, first + step + CYCLE_MONTHS * step, step):
        for month in _months_of_period(parts, index, wanted):
            yield index // 12, month


def _months_of_period(parts: dict[str, str], index: int, wanted: set[int] | None) -> list[int]:
    month = index % 12 + 1
    if parts["FREQ"] == "YEARLY":
        return sorted(wanted) if wanted else list(range(1, 13))
    return [month] if wanted is None or month in wanted else []


def _days(parts: dict[str, str], year: int, month: int) -> bool:
    length = calendar.monthrange(year, month)[1]
    days = set(range(1, length + 1))
    if "BYMONTHDAY" in parts:
        wanted = {int(d) for d in parts["BYMONTHDAY"].split(",")}
        days = {d for d in days if d in wanted or d - length - 1 in wanted}
    if "BYDAY" in parts:
        days &= _weekday_days(parts["BYDAY"], year, month, length)
    return bool(days)


def _weekday_days(byday: str, year: int, month: int, length: int) -> set[int]:
    found: set[int] = set()
    for item in byday.split(","):
        weekday = WEEKDAYS.index(item[-2:])
        matching = [d for d in range(1, length + 1)
                    if calendar.weekday(year, month, d) == weekday]
        ordinal = int(item[:-2]) if item[:-2] else 0
        if ordinal == 0:
            found.update(matching)
        elif 1 <= abs(ordinal) <= len(matching):
            found.add(matching[ordinal - 1] if ordinal > 0 else matching[ordinal])
    return found
