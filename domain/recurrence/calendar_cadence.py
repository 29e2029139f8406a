"""How MONTHLY and YEARLY rules repeat: instances per period over the 400-year cycle.

Lets the skip-ahead count the COUNT instances before a window by arithmetic instead of
iterating them (see ``_CalendarCadence``).
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any

from dateutil import rrule as du

from domain.recurrence.dateutil_rrule import _build_rrule, _walls
from domain.recurrence.fixed_cadence import _TIME_PARTS
from domain.recurrence.rule import _HISTORY_PARTS, _Frequency, _Rule


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
