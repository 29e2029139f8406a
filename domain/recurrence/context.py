"""A series prepared for expansion: its rule parsed, its instants in UTC (``_Context``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from domain.recurrence.model import ExpansionStats, InstanceOverride, Series
from domain.recurrence.rule import _Rule
from domain.recurrence.validation import _parse_rule
from domain.recurrence.wall_time import (
    _EPSILON,
    _LAST_WALL,
    _utc,
    _utc_all,
    _wall,
    _wall_ceiling,
    _zone,
)


@dataclass(frozen=True)
class _Context:
    """A series prepared for expansion: its rule parsed, its instants in UTC."""

    zone: ZoneInfo
    rule_text: str | None
    rule: _Rule | None
    first_wall: datetime
    start: datetime
    duration: timedelta
    extras: frozenset[datetime]
    excluded: frozenset[datetime]
    overrides: Mapping[datetime, InstanceOverride]
    until_stop: datetime
    stats: ExpansionStats


def _context(series: Series, stats: ExpansionStats | None = None) -> _Context:
    start, end = _utc(series.start, "series start"), _utc(series.end, "series end")
    if end < start:
        raise ValueError("series end precedes its start")
    zone = _zone(series.timezone)
    rule = None if series.rrule is None else _parse_rule(series.rrule)
    first_wall = _wall(series.start, zone).replace(microsecond=0)
    return _Context(
        zone=zone,
        rule_text=series.rrule,
        rule=rule,
        first_wall=first_wall,
        start=start,
        duration=end - start,
        extras=frozenset({start, *_utc_all(series.rdates, "rdate")}),
        excluded=frozenset(_utc_all((*series.exdates, *series.cancelled), "exdate")),
        overrides={_utc(key, "override key"): value for key, value in series.overrides.items()},
        until_stop=_until_stop(rule, zone),
        stats=ExpansionStats() if stats is None else stats,
    )


def _until_stop(rule: _Rule | None, zone: ZoneInfo) -> datetime:
    """A wall time from which on no instance can be within UNTIL."""
    if rule is None or rule.until is None:
        return _LAST_WALL
    if rule.until.wall is not None:
        return min(rule.until.wall, _LAST_WALL) + _EPSILON
    assert rule.until.instant is not None
    return _wall_ceiling(zone, rule.until.instant + _EPSILON)
