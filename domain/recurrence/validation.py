"""Validation of a whole RRULE value: its size, then the parts taken together.

``validate_rrule`` is the entry point for commands; ``_parse_rule`` (cached) is what the
expansion uses.  Besides the combinations RFC 5545 §3.3.10 forbids, rules that can never
produce an instance (a BYSETPOS beyond every period, BYMONTH/BYMONTHDAY/BYYEARDAY that
exclude every day) are refused, as dateutil would search up to the year 9999 for them.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache
from typing import Final

from dateutil import rrule as du

from domain.recurrence.rule import (
    _FREQUENCIES,
    _build_rule,
    _Frequency,
    _invalid,
    _Rule,
    _split_parts,
)

# §3.3.10 restricts some BYxxx parts to some frequencies.
_FREQUENCIES_ALLOWING: Final[dict[str, set[_Frequency]]] = {
    "BYWEEKNO": {du.YEARLY},
    "BYYEARDAY": {du.YEARLY, du.HOURLY, du.MINUTELY, du.SECONDLY},
    "BYMONTHDAY": set(_FREQUENCIES.values()) - {du.WEEKLY},
}
_MAX_RRULE_LENGTH: Final = 1000


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


def _check_envelope(value: str) -> None:
    if len(value) > _MAX_RRULE_LENGTH:
        raise _invalid(f"{len(value)} characters long; the limit is {_MAX_RRULE_LENGTH}")
    if value[:6].upper() == "RRULE:":
        raise _invalid("give the value without the 'RRULE:' prefix")
    if not value:
        raise _invalid("empty")


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
