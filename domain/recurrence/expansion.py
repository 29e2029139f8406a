"""Expansion of a series in a window: rule instances, RDATEs and overrides (``expand``).

An occurrence lies in [a, b) when ``start < b and end > a``; a zero-length one when
``a <= start < b`` (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from domain.errors import TooManyInstancesError
from domain.recurrence.context import _Context, _context
from domain.recurrence.instances import _rule_starts
from domain.recurrence.model import (
    MAX_INSTANCES_PER_QUERY,
    ExpansionStats,
    InstanceOverride,
    Occurrence,
    Series,
)
from domain.recurrence.wall_time import _EPSILON, _clamp, _utc, _wall_ceiling, _wall_floor


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime


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
