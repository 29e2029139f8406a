"""Skip-ahead: iterate a rule from a shifted DTSTART just before the window.

Without COUNT, the DTSTART moves a whole number of periods (``_aligned_dtstart``); with
COUNT, the instances before it are counted by arithmetic (``_FixedCadence``,
``_CalendarCadence``) and taken off the COUNT.  See the package docstring for which rules
qualify.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from dateutil import rrule as du

from domain.recurrence.context import _Context
from domain.recurrence.rule import _HISTORY_PARTS, _Rule
from domain.recurrence.rule_setup import _rule_setup, _Setup
from domain.recurrence.wall_time import _ALL_YEARS

_FIXED_PERIODS: Final = {
    du.WEEKLY: timedelta(weeks=1),
    du.DAILY: timedelta(days=1),
    du.HOURLY: timedelta(hours=1),
    du.MINUTELY: timedelta(minutes=1),
    du.SECONDLY: timedelta(seconds=1),
}


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


def _scaled(period: timedelta, factor: int) -> timedelta:
    """``period * factor``, but no longer than all the years a datetime can hold."""
    return min(period * min(factor, _ALL_YEARS // period), _ALL_YEARS)
