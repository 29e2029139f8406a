"""Free/busy time as bit masks of 15-minute UTC slots.

A UTC day has 96 slots; bit ``i`` (value ``1 << i``) is the slot starting at
00:00Z + 15*i minutes.  A slot is busy when any busy time overlaps it at all, which is
coarser than RFC 5545 §3.2.9 FBTYPE periods but cheap to store, OR and scan.

Across several days the masks are laid end to end into one big integer (day ``k`` of the
window shifted by ``96 * k`` bits), so merging across midnight and finding runs of free
slots are a few integer and string operations instead of per-slot datetime arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SLOT_MINUTES = 15
SLOTS_PER_DAY = 96
FULL_DAY = (1 << 96) - 1
DayMasks = dict[date, int]

_SLOT: Final = timedelta(minutes=SLOT_MINUTES)
_DAY: Final = timedelta(days=1)
_EPSILON: Final = timedelta(microseconds=1)
_BYTES_PER_DAY: Final = SLOTS_PER_DAY // 8
_RUN_OF_ONES: Final = re.compile("1+")
_CLOCK: Final = re.compile(r"(\d{2}):(\d{2})")


# -- masks from times ---------------------------------------------------------------------


def slot_masks(start: datetime, end: datetime) -> DayMasks:
    """The slots that [start, end) overlaps at all, per UTC day; empty if end <= start."""
    start, end = _utc(start), _utc(end)
    masks: DayMasks = {}
    for day in _days(start.date(), (end - _EPSILON).date()) if end > start else ():
        midnight = _midnight(day)
        first = (max(start, midnight) - midnight) // _SLOT
        stop = -((midnight - min(end, midnight + _DAY)) // _SLOT)  # ceiling division
        masks[day] = ((1 << (stop - first)) - 1) << first
    return masks


def union(*masks: Mapping[date, int]) -> DayMasks:
    """Slots busy in any of ``masks``, per day."""
    combined: DayMasks = {}
    for day_masks in masks:
        for day, mask in day_masks.items():
            combined[day] = combined.get(day, 0) | mask
    return combined


# -- intervals from masks -----------------------------------------------------------------


def busy_intervals(
    masks: Mapping[date, int], window_start: datetime, window_end: datetime
) -> list[tuple[datetime, datetime]]:
    """Busy time in the window, merged across midnight, clipped to the window, sorted."""
    window_start, window_end = _utc(window_start), _utc(window_end)
    if window_end <= window_start:
        return []
    first_day = window_start.date()
    bitmap = _bitmap(masks, first_day, (window_end - _EPSILON).date())
    base = _midnight(first_day)
    intervals = []
    for first, stop in _runs(bitmap):
        start, end = max(base + _SLOT * first, window_start), min(base + _SLOT * stop, window_end)
        if start < end:
            intervals.append((start, end))
    return intervals


def free_intervals(
    busy: Mapping[date, int], window_start: datetime, window_end: datetime
) -> list[tuple[datetime, datetime]]:
    """Maximal intervals inside the window that touch no busy slot."""
    window_start, window_end = _utc(window_start), _utc(window_end)
    free = []
    cursor = window_start
    for start, end in busy_intervals(busy, window_start, window_end):
        if start > cursor:
            free.append((cursor, start))
        cursor = end
    if cursor < window_end:
        free.append((cursor, window_end))
    return free


# -- working hours ------------------------------------------------------------------------


def working_hours_masks(
    start_hhmm: str,
    end_hhmm: str,
    iso_days: Sequence[int],
    timezone: str,
    window_start: datetime,
    window_end: datetime,
) -> DayMasks:
    """Slots of the window lying wholly inside the working hours, which are wall-clock
    times in ``timezone`` on ISO weekdays ``iso_days`` (1 = Monday .. 7 = Sunday).

    ``end_hhmm`` may be "24:00"; an end before the start means the hours run overnight
    into the next day.  A start or end that falls in a DST gap uses the offset from
    before the gap and one that occurs twice its first occurrence (RFC 5545 §3.3.5)."""
    opening, closing = _minutes(start_hhmm, "start"), _minutes(end_hhmm, "end", allow_24=True)
    if opening == closing:
        raise ValueError("working hours must not start and end at the same time")
    days = _iso_days(iso_days)
    zone = _zone(timezone)
    window_start, window_end = _utc(window_start), _utc(window_end)
    if window_end <= window_start:
        return {}
    local_days = _days(_local_date(window_start, zone) - _DAY, _local_date(window_end, zone))
    working = union(*(
        _inner_slot_masks(*_working_span(day, opening, closing, zone))
        for day in local_days
        if day.isoweekday() in days
    ))
    return _intersection(working, slot_masks(window_start, window_end))


def _minutes(hhmm: str, what: str, allow_24: bool = False) -> int:
    match = _CLOCK.fullmatch(hhmm)
    if match is not None:
        hours, minutes = int(match[1]), int(match[2])
        if minutes < 60 and (hours < 24 or (allow_24 and hhmm == "24:00")):
            return hours * 60 + minutes
    latest = "24:00" if allow_24 else "23:59"
    raise ValueError(f"working hours {what} must be HH:MM from 00:00 to {latest}; got {hhmm!r}")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _iso_days(iso_days: Sequence[int]) -> frozenset[int]:
    if any(not 1 <= day <= 7 for day in iso_days):
        raise ValueError(f"ISO weekdays run from 1 (Monday) to 7 (Sunday); got {list(iso_days)}")
    return frozenset(iso_days)


def _working_span(day: date, opening: int, closing: int, zone: ZoneInfo
                  ) -> tuple[datetime, datetime]:
    # Wall-clock arithmetic on naive times: "09:00" is 09:00 whatever the offset.
    midnight = datetime.combine(day, time())
    closing_day = midnight if closing > opening else midnight + _DAY
    start = midnight + timedelta(minutes=opening)
    end = closing_day + timedelta(minutes=closing)
    return _instant(start, zone), _instant(end, zone)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _inner_slot_masks(start: datetime, end: datetime) -> DayMasks:
    """The slots lying wholly inside [start, end)."""
    return slot_masks(_slot_ceiling(start), _slot_floor(end))


def _intersection(first: Mapping[date, int], second: Mapping[date, int]) -> DayMasks:
    both = {day: mask & second.get(day, 0) for day, mask in first.items()}
    return {day: mask for day, mask in both.items() if mask}


# -- suggestions --------------------------------------------------------------------------


def suggestions(
    busy: Mapping[date, int],
    window_start: datetime,
    window_end: datetime,
    duration_minutes: int,
    max_suggestions: int,
    allowed: Mapping[date, int] | None = None,
) -> list[tuple[datetime, datetime]]:
    """Up to ``max_suggestions`` meeting times, first fit: candidates start on slot
    boundaries from ``window_start`` rounded up; one fits when it ends inside the window
    and every slot it touches is free in ``busy`` and (if given) set in ``allowed``.  After
    a fit the scan resumes at its end, rounded up to a slot boundary."""
    if duration_minutes <= 0:
        raise ValueError(f"duration_minutes must be positive; got {duration_minutes}")
    window_start, window_end = _utc(window_start), _utc(window_end)
    first = _slot_ceiling(window_start)
    duration = timedelta(minutes=duration_minutes)
    if max_suggestions <= 0 or first + duration > window_end:
        return []
    base = _midnight(first.date())
    free = _free_bitmap(busy, allowed, first.date(), (window_end - _EPSILON).date())
    latest_start = (window_end - duration - base) // _SLOT
    starts = _first_fits(free, (first - base) // _SLOT, latest_start,
                         -(-duration_minutes // SLOT_MINUTES), max_suggestions)
    return [(base + _SLOT * slot, base + _SLOT * slot + duration) for slot in starts]


def _free_bitmap(busy: Mapping[date, int], allowed: Mapping[date, int] | None,
                 first_day: date, last_day: date) -> int:
    everything = (1 << (SLOTS_PER_DAY * ((last_day - first_day).days + 1))) - 1
    permitted = everything if allowed is None else _bitmap(allowed, first_day, last_day)
    return permitted & ~_bitmap(busy, first_day, last_day) & everything


def _first_fits(free: int, earliest: int, latest: int, length: int, wanted: int) -> list[int]:
    """Starts of up to ``wanted`` back-to-back ``length``-slot runs of free slots, each
    starting from ``earliest`` to ``latest``, scanning forward."""
    starts: list[int] = []
    cursor = earliest
    for run_start, run_stop in _runs(free):
        slot = max(run_start, cursor)
        while slot + length <= run_stop and slot <= latest and len(starts) < wanted:
            starts.append(slot)
            slot += length
        cursor = max(cursor, slot)
        if slot > latest or len(starts) == wanted:
            break
    return starts


# -- bitmaps ------------------------------------------------------------------------------


def _bitmap(masks: Mapping[date, int], first_day: date, last_day: date) -> int:
    """The masks of first_day..last_day laid end to end, first_day in the lowest bits."""
    packed = b"".join(
        (masks.get(day, 0) & FULL_DAY).to_bytes(_BYTES_PER_DAY, "little")
        for day in _days(first_day, last_day)
    )
    return int.from_bytes(packed, "little")


def _runs(bitmap: int) -> Iterator[tuple[int, int]]:
    """(first, stop) bit positions of each run of set bits, lowest first."""
    # bin() and a regex scan are linear in C; bit tricks per run would be quadratic.
    lowest_first = format(bitmap, "b")[::-1]
    for match in _RUN_OF_ONES.finditer(lowest_first):
        yield match.span()


# -- time helpers -------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime; got {moment!r}")
    return moment.astimezone(UTC)


def _days(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _slot_floor(moment: datetime) -> datetime:
    midnight = _midnight(moment.date())
    return midnight + _SLOT * ((moment - midnight) // _SLOT)


def _slot_ceiling(moment: datetime) -> datetime:
    midnight = _midnight(moment.date())
    return midnight - _SLOT * ((midnight - moment) // _SLOT)
