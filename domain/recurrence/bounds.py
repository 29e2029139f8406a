"""The earliest start and latest end of a series' occurrences (``series_bounds``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice
from typing import Final

from dateutil import rrule as du

from domain.errors import TooManyInstancesError
from domain.recurrence.context import _Context, _context
from domain.recurrence.expansion import _belongs, _is_plain, _override_times
from domain.recurrence.instances import _rule_starts
from domain.recurrence.model import Series
from domain.recurrence.rule import _Rule
from domain.recurrence.skip_ahead import _FIXED_PERIODS, _can_skip_ahead, _scaled
from domain.recurrence.wall_time import _LAST_WALL, _wall_ceiling, _wall_floor

_LISTING_LIMIT: Final = 10_000


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


def _latest_nearby(context: _Context, latest: datetime, wall_to: datetime) -> datetime:
    # A wall time in a DST gap just before the chunk can map to a later instant.
    wall_from = _wall_floor(context.zone, latest)
    earlier = _rule_starts(context, wall_from, wall_to)
    return max((start for start in earlier if _is_plain(context, start)), default=latest)
