"""Wall time and instants: zones, UTC conversion, and wall-time bounds for an instant.

Rules are expanded in the wall-clock time of the series' zone (RFC 5545 §3.3.5); these
helpers turn UTC window edges into wall times that surely cover them, whatever UTC offsets
the zone uses nearby, and keep every instant within the years 2 to 9998.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidRecurrenceError

_EPSILON: Final = timedelta(microseconds=1)
_FIRST_INSTANT: Final = datetime(2, 1, 1, tzinfo=UTC)
_LAST_INSTANT: Final = datetime(9998, 12, 31, tzinfo=UTC)
_LAST_WALL: Final = datetime(9998, 12, 31)
_ALL_YEARS: Final = datetime.max - datetime.min

_OFFSET_PROBES: Final = 72
_OFFSET_PROBE_STEP: Final = timedelta(hours=1)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRecurrenceError(f"unknown time zone {name!r}") from None


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime; got {moment!r}")
    return moment.astimezone(UTC)


def _utc_all(moments: Iterable[datetime], what: str) -> list[datetime]:
    return [_utc(moment, what) for moment in moments]


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    # Via UTC: astimezone() to a datetime's own tzinfo would keep an imaginary wall time.
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)


def _wall_floor(zone: ZoneInfo, moment: datetime) -> datetime:
    """A wall time before which no wall time maps to ``moment`` or later."""
    moment = _clamp(moment)
    smallest, _ = _offset_extremes(zone, _whole_hour(moment))
    return (moment + smallest).replace(tzinfo=None)


def _wall_ceiling(zone: ZoneInfo, moment: datetime) -> datetime:
    """A wall time from which on every wall time maps to ``moment`` or later."""
    moment = _clamp(moment)
    _, largest = _offset_extremes(zone, _whole_hour(moment))
    return (moment + largest).replace(tzinfo=None)


@lru_cache(maxsize=4096)
def _offset_extremes(zone: ZoneInfo, moment: datetime) -> tuple[timedelta, timedelta]:
    """Smallest and largest UTC offset of ``zone`` within three days of ``moment``.

    A wall time maps to an instant through one of these offsets whenever either lies
    within two days of ``moment``; the third day covers gaps of up to a day (Samoa 2011),
    whose wall times use the offset from before the gap."""
    offsets = {
        _utc_offset(zone, moment + _OFFSET_PROBE_STEP * step)
        for step in range(-_OFFSET_PROBES, _OFFSET_PROBES + 1)
    }
    return min(offsets), max(offsets)


def _utc_offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta()


def _clamp(moment: datetime) -> datetime:
    return min(max(moment, _FIRST_INSTANT), _LAST_INSTANT)


def _whole_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
