"""A rule anchored at its DTSTART, ready for dateutil: keyword arguments, COUNT, cadences.

Worked out once per rule and DTSTART (cached), as a series is expanded again and again
with the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from dateutil import rrule as du

from domain.recurrence.calendar_cadence import _calendar_cadence, _CalendarCadence
from domain.recurrence.dateutil_rrule import _build_rrule, _walls
from domain.recurrence.fixed_cadence import _fixed_cadence, _FixedCadence
from domain.recurrence.rule import _Rule
from domain.recurrence.validation import _parse_rule


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
