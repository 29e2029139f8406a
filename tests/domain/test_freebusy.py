"""Tests for domain.freebusy: slot masks, intervals, working hours and suggestions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.freebusy import (
    FULL_DAY,
    SLOTS_PER_DAY,
    DayMasks,
    busy_intervals,
    free_intervals,
    slot_masks,
    suggestions,
    union,
    working_hours_masks,
)

DAY = date(2026, 3, 9)  # a Monday
NEXT_DAY = date(2026, 3, 10)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def bits(first: int, stop: int) -> int:
    """Slots first..stop-1."""
    return ((1 << (stop - first)) - 1) << first


# -- slot_masks and union ----------------------------------------------------------------


def test_half_hour_on_the_boundary_is_two_slots() -> None:
    assert slot_masks(at(9), at(9, 30)) == {DAY: 0b11 << 36}


def test_any_partial_overlap_makes_a_slot_busy() -> None:
    assert slot_masks(at(9, 5), at(9, 10)) == {DAY: 1 << 36}
    assert slot_masks(at(9, 14), at(9, 16)) == {DAY: 0b11 << 36}


def test_interval_across_midnight_marks_two_days() -> None:
    assert slot_masks(at(23, 50), at(0, 20, NEXT_DAY)) == {DAY: 1 << 95, NEXT_DAY: 0b11}


def test_interval_ending_at_midnight_stays_on_its_day() -> None:
    assert slot_masks(at(23), at(0, 0, NEXT_DAY)) == {DAY: bits(92, 96)}


def test_multi_day_interval_has_full_days_in_between() -> None:
    masks = slot_masks(at(12), at(12, day=date(2026, 3, 12)))
    assert masks == {DAY: bits(48, 96), NEXT_DAY: FULL_DAY, date(2026, 3, 11): FULL_DAY,
                     date(2026, 3, 12): bits(0, 48)}


def test_empty_or_reversed_interval_has_no_slots() -> None:
    assert slot_masks(at(9), at(9)) == {}
    assert slot_masks(at(10), at(9)) == {}


def test_slot_masks_use_utc_days() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    start = datetime(2026, 3, 10, 8, 0, tzinfo=tokyo)  # 23:00Z the day before
    assert slot_masks(start, start + timedelta(minutes=15)) == {DAY: 1 << 92}


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        slot_masks(datetime(2026, 3, 9, 9), at(10))


def test_union_ors_per_day() -> None:
    assert union({DAY: 0b0011}, {DAY: 0b0110, NEXT_DAY: 1}, {}) == {DAY: 0b0111, NEXT_DAY: 1}
    assert union() == {}


# -- busy and free intervals -------------------------------------------------------------


def test_busy_intervals_merge_across_midnight_and_clip_to_the_window() -> None:
    masks = union(slot_masks(at(23), at(0, 0, NEXT_DAY)), slot_masks(at(0, 0, NEXT_DAY),
                                                                     at(1, 0, NEXT_DAY)))
    assert busy_intervals(masks, at(0), at(0, 0, date(2026, 3, 11))) == [
        (at(23), at(1, 0, NEXT_DAY))]
    assert busy_intervals(masks, at(23, 20), at(0, 40, NEXT_DAY)) == [
        (at(23, 20), at(0, 40, NEXT_DAY))]


def test_busy_intervals_are_sorted_and_ignore_days_outside_the_window() -> None:
    masks = {DAY: (1 << 36) | (1 << 40), date(2026, 3, 8): FULL_DAY, NEXT_DAY: 1}
    assert busy_intervals(masks, at(0), at(0, 0, NEXT_DAY)) == [
        (at(9), at(9, 15)), (at(10), at(10, 15))]
    assert busy_intervals(masks, at(12), at(9)) == []


def test_free_intervals_are_the_gaps_in_the_window() -> None:
    busy = union(slot_masks(at(9), at(10)), slot_masks(at(11, 5), at(11, 20)))
    assert free_intervals(busy, at(8, 10), at(12)) == [
        (at(8, 10), at(9)), (at(10), at(11)), (at(11, 30), at(12))]
    assert free_intervals(busy, at(9, 10), at(9, 50)) == []
    assert free_intervals({}, at(8), at(9)) == [(at(8), at(9))]


# -- suggestions -------------------------------------------------------------------------


def test_suggestions_take_the_first_fit_and_resume_at_its_end() -> None:
    busy = slot_masks(at(9), at(10))
    assert suggestions(busy, at(8, 10), at(12), 30, 3) == [
        (at(8, 15), at(8, 45)), (at(10), at(10, 30)), (at(10, 30), at(11))]


def test_suggestion_of_an_odd_duration_resumes_at_the_next_slot_boundary() -> None:
    found = suggestions({}, at(8), at(9), 20, 5)
    assert found == [(at(8), at(8, 20)), (at(8, 30), at(8, 50))]


def test_suggestion_must_end_inside_the_window() -> None:
    assert suggestions({}, at(8), at(8, 59), 60, 1) == []
    assert suggestions({}, at(8), at(9), 60, 1) == [(at(8), at(9))]


def test_suggestions_cross_midnight_when_free() -> None:
    busy = slot_masks(at(0, 0), at(23, 30))
    assert suggestions(busy, at(0), at(12, 0, NEXT_DAY), 60, 1) == [
        (at(23, 30), at(0, 30, NEXT_DAY))]


def test_suggestions_respect_allowed_slots() -> None:
    allowed = slot_masks(at(14), at(17))
    busy = slot_masks(at(14), at(15))
    assert suggestions(busy, at(8), at(18), 60, 5, allowed) == [
        (at(15), at(16)), (at(16), at(17))]
    assert suggestions({}, at(8), at(18), 60, 5, {}) == []


def test_suggestions_edge_arguments() -> None:
    assert suggestions({}, at(8), at(9), 15, 0) == []
    with pytest.raises(ValueError, match="positive"):
        suggestions({}, at(8), at(9), 0, 1)


# -- working hours -----------------------------------------------------------------------


def test_working_hours_in_new_york_follow_dst() -> None:
    zone = "America/New_York"
    winter = working_hours_masks("09:00", "17:00", [1, 2, 3, 4, 5], zone,
                                 utc(2026, 1, 5), utc(2026, 1, 12))
    summer = working_hours_masks("09:00", "17:00", [1, 2, 3, 4, 5], zone,
                                 utc(2026, 7, 6), utc(2026, 7, 13))
    assert winter == {date(2026, 1, d): bits(56, 88) for d in range(5, 10)}  # 14:00Z-22:00Z
    assert summer == {date(2026, 7, d): bits(52, 84) for d in range(6, 11)}  # 13:00Z-21:00Z


def test_working_hours_in_kolkata_keep_only_whole_slots() -> None:
    masks = working_hours_masks("09:10", "17:00", [1], "Asia/Kolkata", at(0), at(0, 0, NEXT_DAY))
    # 09:10-17:00 IST is 03:40Z-11:30Z; the 03:30Z slot is only partly inside.
    assert masks == {DAY: bits(15, 46)}


def test_working_hours_until_midnight_in_a_zone_ahead_of_utc() -> None:
    masks = working_hours_masks("22:00", "24:00", [2], "Asia/Kathmandu",
                                utc(2026, 3, 1), utc(2026, 3, 20))
    # Tuesday 22:00-24:00 NPT (+05:45) is 16:15Z-18:15Z.
    assert masks == {date(2026, 3, d): bits(65, 73) for d in (3, 10, 17)}


def test_overnight_working_hours_run_into_the_next_day() -> None:
    masks = working_hours_masks("22:00", "02:00", [1], "UTC", utc(2026, 3, 9), utc(2026, 3, 11))
    assert masks == {DAY: bits(88, 96), NEXT_DAY: bits(0, 8)}


def test_working_hours_are_clipped_to_the_window() -> None:
    masks = working_hours_masks("09:00", "17:00", [1], "UTC", at(10, 5), at(12))
    assert masks == {DAY: bits(40, 48)}


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [("9:00", "17:00", [1]), ("09:00", "24:01", [1]), ("24:00", "17:00", [1]),
     ("09:00", "09:00", [1]), ("09:00", "17:00", [0]), ("09:00", "17:00", [8]),
     ("09:60", "17:00", [1]), ("09:00", "25:00", [1])],
)
def test_working_hours_reject_bad_input(start: str, end: str, days: list[int]) -> None:
    with pytest.raises(ValueError):
        working_hours_masks(start, end, days, "UTC", at(0), at(0, 0, NEXT_DAY))


def test_working_hours_reject_an_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        working_hours_masks("09:00", "17:00", [1], "Mars/Olympus", at(0), at(0, 0, NEXT_DAY))


# -- brute force comparison --------------------------------------------------------------

BASE = utc(2026, 3, 7)  # the week around a US DST change, not that UTC cares
SPAN_MINUTES = 4 * 24 * 60


def minute(offset: int) -> datetime:
    return BASE + timedelta(minutes=offset)


def intervals_strategy() -> st.SearchStrategy[list[tuple[int, int]]]:
    pair = st.tuples(st.integers(-120, SPAN_MINUTES + 120), st.integers(0, 600))
    return st.lists(pair.map(lambda p: (p[0], p[0] + p[1])), max_size=12)


def masks_of(intervals: list[tuple[int, int]]) -> DayMasks:
    return union(*(slot_masks(minute(a), minute(b)) for a, b in intervals))


def slot_is_marked(slot: int, intervals: list[tuple[int, int]]) -> bool:
    return any(a < b and a < 15 * (slot + 1) and b > 15 * slot for a, b in intervals)


def runs(flags: dict[int, bool], first: int, stop: int) -> list[tuple[datetime, datetime]]:
    found: list[tuple[datetime, datetime]] = []
    for m in range(first, stop):
        if not flags[m]:
            continue
        if found and found[-1][1] == minute(m):
            found[-1] = (found[-1][0], minute(m + 1))
        else:
            found.append((minute(m), minute(m + 1)))
    return found


def brute_suggestions(busy: list[tuple[int, int]], allowed: list[tuple[int, int]] | None,
                      first: int, stop: int, duration: int, wanted: int) -> list[int]:
    found: list[int] = []
    t = -(-first // 15) * 15
    while t + duration <= stop and len(found) < wanted:
        slots = range(t // 15, -(-(t + duration) // 15))
        fits = all(not slot_is_marked(s, busy) for s in slots) and (
            allowed is None or all(slot_is_marked(s, allowed) for s in slots))
        if fits:
            found.append(t)
            t = -(-(t + duration) // 15) * 15
        else:
            t += 15
    return found


@settings(max_examples=400, deadline=None)
@given(
    busy=intervals_strategy(),
    allowed=st.none() | intervals_strategy(),
    window=st.tuples(st.integers(0, SPAN_MINUTES), st.integers(1, SPAN_MINUTES)),
    duration=st.integers(1, 180),
    wanted=st.integers(1, 8),
)
def test_masks_intervals_and_suggestions_match_a_per_minute_brute_force(
    busy: list[tuple[int, int]], allowed: list[tuple[int, int]] | None,
    window: tuple[int, int], duration: int, wanted: int,
) -> None:
    first, stop = window[0], min(window[0] + window[1], SPAN_MINUTES)
    masks = masks_of(busy)
    is_busy = {m: slot_is_marked(m // 15, busy) for m in range(first, stop)}
    assert busy_intervals(masks, minute(first), minute(stop)) == runs(is_busy, first, stop)
    is_free = {m: not flag for m, flag in is_busy.items()}
    assert free_intervals(masks, minute(first), minute(stop)) == runs(is_free, first, stop)
    allowed_masks = None if allowed is None else masks_of(allowed)
    expected = brute_suggestions(busy, allowed, first, stop, duration, wanted)
    found = suggestions(masks, minute(first), minute(stop), duration, wanted, allowed_masks)
    assert found == [(minute(t), minute(t + duration)) for t in expected]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(["America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
                          "Australia/Lord_Howe", "Europe/London", "UTC"]),
    opening=st.integers(0, 24 * 60 - 1),
    length=st.integers(1, 24 * 60 - 1),
    days=st.sets(st.integers(1, 7), min_size=1),
    first_day=st.integers(0, 365),
)
def test_working_hours_match_a_per_slot_brute_force(
    zone: str, opening: int, length: int, days: set[int], first_day: int
) -> None:
    closing = (opening + length) % (24 * 60) or 24 * 60
    window_start = utc(2026, 1, 1) + timedelta(days=first_day)
    window_end = window_start + timedelta(days=3)
    masks = working_hours_masks(f"{opening // 60:02d}:{opening % 60:02d}",
                                f"{closing // 60:02d}:{closing % 60:02d}", sorted(days),
                                zone, window_start, window_end)
    tz = ZoneInfo(zone)
    for slot in range(3 * SLOTS_PER_DAY):
        slot_start = window_start + timedelta(minutes=15 * slot)
        inside = all(_is_working(slot_start + timedelta(minutes=m), tz, opening, length, days)
                     for m in range(15))
        marked = bool(masks.get(slot_start.date(), 0) >> (slot % SLOTS_PER_DAY) & 1)
        assert marked == inside, slot_start


def _is_working(moment: datetime, zone: ZoneInfo, opening: int, length: int,
                days: set[int]) -> bool:
    """Whether the minute at ``moment`` lies inside a working span (per wall clock)."""
    for back in (0, 1):
        day = (moment.astimezone(zone) - timedelta(days=back)).date()
        if day.isoweekday() not in days:
            continue
        midnight = datetime(day.year, day.month, day.day)
        span_start = (midnight + timedelta(minutes=opening)).replace(tzinfo=zone)
        span_end = (midnight + timedelta(minutes=opening + length)).replace(tzinfo=zone)
        if span_start.astimezone(UTC) <= moment < span_end.astimezone(UTC):
            return True
    return False
