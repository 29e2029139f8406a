"""How SECONDLY..WEEKLY rules repeat: instances per fixed span of wall time.

Lets the skip-ahead count the COUNT instances before a window by arithmetic instead of
iterating them (see ``_FixedCadence``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from dateutil import rrule as du

from domain.recurrence.rule import _Rule
from domain.recurrence.wall_time import _ALL_YEARS

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
