"""Free/busy slot arithmetic: a UTC day is 96 slots of 15 minutes, a user's day a 96-bit
mask (bit i = the slot starting at 00:00Z + 15*i minutes). Masks are Python ints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SLOT_MINUTES = 15
SLOTS_PER_DAY = 96
FULL_DAY = (1 << SLOTS_PER_DAY) - 1
SLOT = timedelta(minutes=SLOT_MINUTES)
DayMasks = dict[date, int]
Interval = tuple[datetime, datetime]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _slot_index(instant: datetime, day: date) -> float:
    return (instant - _midnight(day)) / SLOT


def slot_masks(start: datetime, end: datetime) -> DayMasks:
    """Slots overlapped by [start, end): any partial overlap makes a slot busy."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    masks: DayMasks = {}
    day = start.date()
    while end > start and _midnight(day) < end:
        first = max(0, int(_slot_index(start, day)))
        last = min(SLOTS_PER_DAY, -int(-_slot_index(end, day) // 1))  # ceil
        if last > first:
            masks[day] = ((1 << last) - 1) ^ ((1 << first) - 1)
        day += timedelta(days=1)
    return masks


def union(*all_masks: Mapping[date, int]) -> DayMasks:
    merged: DayMasks = {}
    for masks in all_masks:
        for day, mask in masks.items():
            merged[day] = merged.get(day, 0) | mask
    return merged


def _window_days(window_start: datetime, window_end: datetime) -> list[date]:
    first, last = window_start.astimezone(UTC).date(), window_end.astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _runs(mask: int) -> list[tuple[int, int]]:
    """(first, last exclusive) slot indexes of each run of set bits."""
    runs = []
    while mask:
        low = (mask & -mask).bit_length() - 1
        shifted = mask >> low
        length = (~shifted & (shifted + 1)).bit_length() - 1
        runs.append((low, low + length))
        mask &= ~(((1 << length) - 1) << low)
    return runs


def busy_intervals(masks: Mapping[date, int], window_start: datetime,
                   window_end: datetime) -> list[Interval]:
    """Busy time merged across midnights and clipped to the window."""
    intervals: list[Interval] = []
    for day in _window_days(window_start, window_end):
        for first, last in _runs(masks.get(day, 0) & FULL_DAY):
            _append(intervals, _midnight(day) + first * SLOT, _midnight(day) + last * SLOT)
    return _clip(intervals, window_start.astimezone(UTC), window_end.astimezone(UTC))


def free_intervals(busy: Mapping[date, int], window_start: datetime,
                   window_end: datetime) -> list[Interval]:
    free = {d: FULL_DAY & ~busy.get(d, 0) for d in _window_days(window_start, window_end)}
    return busy_intervals(free, window_start, window_end)


def _append(intervals: list[Interval], start: datetime, end: datetime) -> None:
    if intervals and intervals[-1][1] == start:
        intervals[-1] = (intervals[-1][0], end)
    else:
        intervals.append((start, end))


def _clip(intervals: list[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    return [(max(s, lo), min(e, hi)) for s, e in intervals if s < hi and e > lo]


def working_hours_masks(start_hhmm: str, end_hhmm: str, iso_days: Sequence[int],
                        timezone: str, window_start: datetime, window_end: datetime
                        ) -> DayMasks:
    """Slots wholly inside the user's working hours, computed in the user's zone."""
    zone = ZoneInfo(timezone)
    first = window_start.astimezone(zone).date() - timedelta(days=1)
    last = window_end.astimezone(zone).date() + timedelta(days=1)
    masks: DayMasks = {}
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        if day.isoweekday() in iso_days:
            start, end = _local(day, start_hhmm, zone), _local(day, end_hhmm, zone)
            masks = union(masks, _inside_slots(start, end))
    return masks


def _local(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(0), tzinfo=zone) + timedelta(hours=hours,
                                                                   minutes=minutes)


def _inside_slots(start: datetime, end: datetime) -> DayMasks:
    """Slots fully inside [start, end): round start up and end down to slot bounds."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    aligned_start = _ceil_slot(start)
    aligned_end = _floor_slot(end)
    return slot_masks(aligned_start, aligned_end) if aligned_end > aligned_start else {}


def _floor_slot(instant: datetime) -> datetime:
    midnight = _midnight(instant.date())
    return midnight + ((instant - midnight) // SLOT) * SLOT


def _ceil_slot(instant: datetime) -> datetime:
    floor = _floor_slot(instant)
    return floor if floor == instant else floor + SLOT


def suggestions(busy: Mapping[date, int], window_start: datetime, window_end: datetime,
                duration_minutes: int, max_suggestions: int,
                allowed: Mapping[date, int] | None = None) -> list[Interval]:
    """First-fit: scan from the window start (rounded up to a slot) in 15-minute steps,
    take the first slot run of the duration that is free (and allowed), resume at its end."""
    needed = -(-duration_minutes // SLOT_MINUTES)
    start, end = _ceil_slot(window_start.astimezone(UTC)), window_end.astimezone(UTC)
    found: list[Interval] = []
    for run_start, run_end in _candidate_runs(busy, allowed, start, end):
        slots = int((run_end - run_start) / SLOT)
        for i in range(slots // needed):
            if len(found) >= max_suggestions:
                return found
            begin = run_start + i * needed * SLOT
            found.append((begin, begin + timedelta(minutes=duration_minutes)))
    return found[:max_suggestions]


def _candidate_runs(busy: Mapping[date, int], allowed: Mapping[date, int] | None,
                    start: datetime, end: datetime) -> list[Interval]:
    """Maximal runs of whole slots inside [start, end) that are free and allowed."""
    usable: DayMasks = {}
    for day in _window_days(start, end):
        mask = FULL_DAY & ~busy.get(day, 0)
        if allowed is not None:
            mask &= allowed.get(day, 0)
        usable[day] = mask
    runs = busy_intervals(usable, start, end)
    return [(s, _floor_slot(e) if e == end else e) for s, e in runs]
