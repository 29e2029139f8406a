"""Rule instances: the UTC starts a rule produces between two wall times.

Iteration starts from the skip-ahead's DTSTART and gives up with TooManyInstancesError
when more than 200 000 instances would have to be passed over on the way to the window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from dateutil import rrule as du

from domain.errors import TooManyInstancesError
from domain.recurrence.context import _Context
from domain.recurrence.dateutil_rrule import _build_rrule, _walls
from domain.recurrence.rule_setup import _rule_setup
from domain.recurrence.skip_ahead import _skip_ahead
from domain.recurrence.validation import _parse_rule

# Iterating from DTSTART stops being worth it (a dense COUNT or BYSETPOS rule far from
# DTSTART, a very dense period): about a second of dateutil iteration.
_MAX_PASSED_OVER: Final = 200_000


def _instant(context: _Context, wall: datetime) -> datetime:
    if wall == context.first_wall:
        return context.start  # keeps DTSTART's own fold and fraction of a second
    # fold=0: the first of two equal wall times; the pre-gap offset in a gap (§3.3.5)
    return wall.replace(tzinfo=context.zone, fold=0).astimezone(UTC)


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
