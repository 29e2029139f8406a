"""Tests for domain.recurrence: wall-clock expansion, RFC 5545 examples, validation, cost."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.errors import InvalidRecurrenceError, TooManyInstancesError
from domain.recurrence import (
    MAX_INSTANCES_PER_QUERY,
    ExpansionStats,
    InstanceOverride,
    Occurrence,
    Series,
    count_used_before,
    expand,
    instance_key,
    parse_instance_key,
    series_bounds,
    validate_rrule,
)

NEW_YORK = "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))


def make_series(
    start: datetime, zone: str, rrule: str | None = None, minutes: int = 60, **extra: Any
) -> Series:
    return Series(start=start, end=start + timedelta(minutes=minutes), timezone=zone,
                  rrule=rrule, **extra)


def starts(occurrences: Iterable[Occurrence]) -> list[datetime]:
    return [o.start for o in occurrences]


def local_dates(occurrences: Iterable[Occurrence], zone: str) -> list[str]:
    return [o.start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d") for o in occurrences]


def local_times(occurrences: Iterable[Occurrence], zone: str) -> list[str]:
    return [o.start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") for o in occurrences]


# -- wall-clock time across DST ----------------------------------------------------------


def test_weekly_new_york_meeting_stays_at_nine_local_across_march_and_november() -> None:
    series = make_series(local(NEW_YORK, 2026, 2, 23, 9), NEW_YORK, "FREQ=WEEKLY;BYDAY=MO")
    march = expand(series, utc(2026, 2, 23), utc(2026, 3, 17))
    november = expand(series, utc(2026, 10, 20), utc(2026, 11, 10))
    assert starts(march) == [utc(2026, 2, 23, 14), utc(2026, 3, 2, 14),
                             utc(2026, 3, 9, 13), utc(2026, 3, 16, 13)]
    assert starts(november) == [utc(2026, 10, 26, 13), utc(2026, 11, 2, 14),
                                utc(2026, 11, 9, 14)]
    assert {t[-5:] for t in local_times(march + november, NEW_YORK)} == {"09:00"}
    assert all(o.end - o.start == timedelta(hours=1) for o in march + november)


def test_daily_london_shifts_utc_at_british_summer_time() -> None:
    zone = "Europe/London"
    series = make_series(local(zone, 2026, 3, 27, 9), zone, "FREQ=DAILY")
    found = expand(series, utc(2026, 3, 27), utc(2026, 3, 31))
    assert starts(found) == [utc(2026, 3, 27, 9), utc(2026, 3, 28, 9),
                             utc(2026, 3, 29, 8), utc(2026, 3, 30, 8)]


def test_weekly_sydney_moves_later_in_utc_when_daylight_time_ends_in_april() -> None:
    zone = "Australia/Sydney"
    series = make_series(local(zone, 2026, 3, 5, 9), zone, "FREQ=WEEKLY")
    found = expand(series, utc(2026, 3, 24), utc(2026, 4, 10))
    assert starts(found) == [utc(2026, 3, 25, 22), utc(2026, 4, 1, 22), utc(2026, 4, 8, 23)]
    assert local_times(found, zone) == ["2026-03-26 09:00", "2026-04-02 09:00",
                                        "2026-04-09 09:00"]


def test_nonexistent_spring_forward_time_uses_offset_from_before_the_gap() -> None:
    series = make_series(local(NEW_YORK, 2026, 3, 7, 2, 30), NEW_YORK, "FREQ=DAILY")
    found = expand(series, utc(2026, 3, 7), utc(2026, 3, 10))
    # 2026-03-08 02:30 does not exist in New York: read as EST, i.e. 03:30 EDT.
    assert starts(found) == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30),
                             utc(2026, 3, 9, 6, 30)]
    assert local_times(found, NEW_YORK)[1] == "2026-03-08 03:30"


def test_ambiguous_fall_back_time_takes_its_first_occurrence() -> None:
    series = make_series(local(NEW_YORK, 2026, 10, 31, 1, 30), NEW_YORK, "FREQ=DAILY")
    found = expand(series, utc(2026, 10, 31), utc(2026, 11, 3))
    assert starts(found) == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30),
                             utc(2026, 11, 2, 6, 30)]


def test_two_wall_times_naming_one_instant_give_one_instance() -> None:
    series = make_series(local(NEW_YORK, 2026, 3, 8, 0, 30), NEW_YORK, "FREQ=HOURLY",
                         minutes=15)
    found = expand(series, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9))
    # 02:30 (in the gap) and 03:30 EDT are both 07:30Z.
    assert starts(found) == [utc(2026, 3, 8, 5, 30), utc(2026, 3, 8, 6, 30),
                             utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8, 30)]


def test_window_ending_just_after_fall_back_keeps_an_instance_in_the_repeated_hour() -> None:
    series = make_series(local(NEW_YORK, 2026, 10, 30, 1, 45), NEW_YORK, "FREQ=DAILY",
                         minutes=10)
    # The window ends at 01:30 EST; 01:45 means 01:45 EDT (05:45Z), which is earlier.
    assert starts(expand(series, utc(2026, 11, 1, 5), utc(2026, 11, 1, 6, 30))) == [
        utc(2026, 11, 1, 5, 45)]


def test_window_starting_just_after_spring_forward_keeps_an_instance_from_the_gap() -> None:
    series = make_series(local(NEW_YORK, 2026, 3, 6, 2, 30), NEW_YORK, "FREQ=DAILY",
                         minutes=10)
    # The window starts at 03:15 EDT; 02:30 is read as 02:30 EST (07:30Z), which is later.
    assert starts(expand(series, utc(2026, 3, 8, 7, 15), utc(2026, 3, 8, 8))) == [
        utc(2026, 3, 8, 7, 30)]


def test_samoa_skipped_day_maps_onto_the_next_one() -> None:
    zone = "Pacific/Apia"  # 2011-12-30 did not exist: UTC-10 became UTC+14
    series = make_series(local(zone, 2011, 12, 28, 9), zone, "FREQ=DAILY")
    found = expand(series, utc(2011, 12, 28), utc(2012, 1, 1))
    assert starts(found) == [utc(2011, 12, 28, 19), utc(2011, 12, 29, 19),
                             utc(2011, 12, 30, 19), utc(2011, 12, 31, 19)]
    assert local_dates(found, zone) == ["2011-12-28", "2011-12-29", "2011-12-31", "2012-01-01"]


def test_dtstart_given_in_another_zone_is_expanded_in_the_series_zone() -> None:
    series = make_series(utc(2026, 3, 2, 14), NEW_YORK, "FREQ=WEEKLY")
    assert starts(expand(series, utc(2026, 3, 9), utc(2026, 3, 10))) == [utc(2026, 3, 9, 13)]


# -- UNTIL and COUNT ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "expected_days"),
    [
        ("20260107T140000Z", [5, 6, 7]),  # exactly the third instance: inclusive
        ("20260107T135959Z", [5, 6]),
        ("20260107", [5, 6, 7]),  # a DATE is inclusive through that local date
        ("20260107T090000", [5, 6, 7]),  # floating: local wall time
    ],
)
def test_until_is_inclusive(until: str, expected_days: list[int]) -> None:
    series = make_series(local(NEW_YORK, 2026, 1, 5, 9), NEW_YORK, f"FREQ=DAILY;UNTIL={until}")
    found = expand(series, utc(2026, 1, 1), utc(2026, 2, 1))
    assert [o.start.day for o in found] == expected_days
    assert series_bounds(series) == (utc(2026, 1, 5, 14), utc(2026, 1, expected_days[-1], 15))


def test_until_in_utc_compares_instants_not_local_dates() -> None:
    zone = "Asia/Tokyo"  # 09:00 JST is 00:00Z
    series = make_series(local(zone, 2026, 1, 5, 9), zone, "FREQ=DAILY;UNTIL=20260107T000000Z")
    assert local_dates(expand(series, utc(2026, 1, 1), utc(2026, 2, 1)), zone) == [
        "2026-01-05", "2026-01-06", "2026-01-07"]


def test_count_limits_the_instances() -> None:
    series = make_series(local(NEW_YORK, 2026, 1, 5, 9), NEW_YORK, "FREQ=DAILY;COUNT=3")
    assert [o.start.day for o in expand(series, utc(2026, 1, 1), utc(2027, 1, 1))] == [5, 6, 7]
    assert series_bounds(series) == (utc(2026, 1, 5, 14), utc(2026, 1, 7, 15))


def test_dtstart_off_the_rule_is_an_instance_and_counts_towards_count() -> None:
    wednesday = local(NEW_YORK, 2026, 1, 7, 9)
    series = make_series(wednesday, NEW_YORK, "FREQ=WEEKLY;BYDAY=MO;COUNT=3")
    found = expand(series, utc(2026, 1, 1), utc(2027, 1, 1))
    assert local_dates(found, NEW_YORK) == ["2026-01-07", "2026-01-12", "2026-01-19"]


# -- EXDATE, RDATE, overrides, cancellations ---------------------------------------------

MONDAYS = make_series(local(NEW_YORK, 2026, 3, 2, 9), NEW_YORK, "FREQ=WEEKLY;BYDAY=MO")


def with_changes(**changes: Any) -> Series:
    return replace(MONDAYS, **changes)


def test_exdate_removes_an_instance() -> None:
    series = with_changes(exdates=(local(NEW_YORK, 2026, 3, 9, 9),))
    assert local_dates(expand(series, utc(2026, 3, 1), utc(2026, 3, 20)), NEW_YORK) == [
        "2026-03-02", "2026-03-16"]


def test_rdate_adds_an_instance_and_duplicates_collapse() -> None:
    extra = local(NEW_YORK, 2026, 3, 11, 15)
    series = with_changes(rdates=(extra, local(NEW_YORK, 2026, 3, 9, 9)))
    found = expand(series, utc(2026, 3, 1), utc(2026, 3, 20))
    assert starts(found) == [utc(2026, 3, 2, 14), utc(2026, 3, 9, 13), utc(2026, 3, 11, 19),
                             utc(2026, 3, 16, 13)]
    assert found[2].end == utc(2026, 3, 11, 20)


def test_rdates_without_rule_add_to_dtstart() -> None:
    start = local(NEW_YORK, 2026, 3, 2, 9)
    series = make_series(start, NEW_YORK, rdates=(local(NEW_YORK, 2026, 3, 4, 9),))
    assert starts(expand(series, utc(2026, 1, 1), utc(2027, 1, 1))) == [
        utc(2026, 3, 2, 14), utc(2026, 3, 4, 14)]
    assert series_bounds(series) == (utc(2026, 3, 2, 14), utc(2026, 3, 4, 15))


def test_moved_instance_appears_at_its_new_time_only() -> None:
    original = utc(2026, 3, 9, 13)
    moved = InstanceOverride(start=utc(2026, 4, 1, 18), end=utc(2026, 4, 1, 19), title="Moved")
    series = with_changes(overrides={original: moved})
    old_window = expand(series, utc(2026, 3, 9), utc(2026, 3, 10))
    new_window = expand(series, utc(2026, 4, 1), utc(2026, 4, 2))
    assert old_window == []
    assert new_window == [Occurrence(original, utc(2026, 4, 1, 18), utc(2026, 4, 1, 19), moved)]


def test_override_keyed_in_another_zone_still_matches() -> None:
    moved = InstanceOverride(start=utc(2026, 3, 9, 15), end=utc(2026, 3, 9, 16))
    series = with_changes(overrides={local(NEW_YORK, 2026, 3, 9, 9): moved})
    [found] = expand(series, utc(2026, 3, 9), utc(2026, 3, 10))
    assert (found.original_start, found.start, found.override) == (
        utc(2026, 3, 9, 13), utc(2026, 3, 9, 15), moved)


def test_override_of_an_instance_the_series_no_longer_has_is_ignored() -> None:
    stale = InstanceOverride(start=utc(2026, 3, 10, 15), end=utc(2026, 3, 10, 16))
    series = with_changes(overrides={utc(2026, 3, 10, 13): stale})  # a Tuesday
    assert starts(expand(series, utc(2026, 3, 9), utc(2026, 3, 11))) == [utc(2026, 3, 9, 13)]


def test_cancelled_instance_never_appears_even_when_overridden() -> None:
    original = utc(2026, 3, 9, 13)
    moved = InstanceOverride(start=utc(2026, 3, 10, 15), end=utc(2026, 3, 10, 16))
    series = with_changes(cancelled=frozenset({original}), overrides={original: moved})
    assert local_dates(expand(series, utc(2026, 3, 1), utc(2026, 3, 20)), NEW_YORK) == [
        "2026-03-02", "2026-03-16"]


def test_non_recurring_series_has_one_occurrence_when_it_overlaps() -> None:
    series = make_series(utc(2026, 3, 2, 14), NEW_YORK, minutes=30)
    assert expand(series, utc(2026, 3, 2, 14, 29), utc(2026, 3, 3)) == [
        Occurrence(utc(2026, 3, 2, 14), utc(2026, 3, 2, 14), utc(2026, 3, 2, 14, 30), None)]
    assert expand(series, utc(2026, 3, 2, 14, 30), utc(2026, 3, 3)) == []
    assert expand(series, utc(2026, 3, 1), utc(2026, 3, 2, 14)) == []
    assert series_bounds(series) == (utc(2026, 3, 2, 14), utc(2026, 3, 2, 14, 30))


def test_zero_length_instance_belongs_to_exactly_one_of_two_adjacent_windows() -> None:
    series = make_series(utc(2026, 3, 2, 14), NEW_YORK, minutes=0)
    assert expand(series, utc(2026, 3, 2, 13), utc(2026, 3, 2, 14)) == []
    assert len(expand(series, utc(2026, 3, 2, 14), utc(2026, 3, 2, 15))) == 1


def test_instance_straddling_the_window_start_is_included() -> None:
    found = expand(MONDAYS, utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 14))
    assert starts(found) == [utc(2026, 3, 9, 13)]


# -- rule features -----------------------------------------------------------------------


def test_monthly_last_friday() -> None:
    series = make_series(local(NEW_YORK, 2026, 1, 30, 16), NEW_YORK, "FREQ=MONTHLY;BYDAY=-1FR")
    assert local_dates(expand(series, utc(2026, 1, 1), utc(2026, 7, 1)), NEW_YORK) == [
        "2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24", "2026-05-29", "2026-06-26"]


def test_monthly_on_the_31st_skips_short_months_far_in_the_future() -> None:
    series = make_series(local(NEW_YORK, 2026, 1, 31, 9), NEW_YORK, "FREQ=MONTHLY")
    assert local_dates(expand(series, utc(2040, 1, 1), utc(2040, 9, 1)), NEW_YORK) == [
        "2040-01-31", "2040-03-31", "2040-05-31", "2040-07-31", "2040-08-31"]


def test_weekly_interval_two_far_in_the_future_keeps_its_parity() -> None:
    series = make_series(local(NEW_YORK, 2026, 1, 5, 9), NEW_YORK,
                         "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;WKST=SU")
    # 2026-01-05 is week 0; 2035-01-01 is 469 weeks later (odd), so that week is skipped.
    assert local_dates(expand(series, utc(2034, 12, 31), utc(2035, 1, 20)), NEW_YORK) == [
        "2035-01-08", "2035-01-12"]


def test_yearly_birthday_on_february_29_only_in_leap_years() -> None:
    series = make_series(local(NEW_YORK, 2024, 2, 29, 9), NEW_YORK, "FREQ=YEARLY")
    assert local_dates(expand(series, utc(2025, 1, 1), utc(2033, 1, 1)), NEW_YORK) == [
        "2028-02-29", "2032-02-29"]


def test_leap_second_only_rule_has_just_dtstart() -> None:
    series = make_series(utc(2026, 1, 1), "UTC", "FREQ=MINUTELY;BYSECOND=60", minutes=0)
    assert starts(expand(series, utc(2026, 1, 1), utc(2026, 1, 2))) == [utc(2026, 1, 1)]


def test_unreachable_byhour_leaves_only_dtstart() -> None:
    series = make_series(utc(2026, 1, 1, 10), "UTC", "FREQ=HOURLY;INTERVAL=2;BYHOUR=3")
    assert starts(expand(series, utc(2026, 1, 1), utc(2026, 1, 3))) == [utc(2026, 1, 1, 10)]


# RFC 5545 §3.8.5.3 examples, all with DTSTART;TZID=America/New_York at 09:00.
RFC_EXAMPLES = [
    ((1997, 9, 2), "FREQ=DAILY;COUNT=10",
     ["1997-09-02", "1997-09-03", "1997-09-04", "1997-09-05", "1997-09-06", "1997-09-07",
      "1997-09-08", "1997-09-09", "1997-09-10", "1997-09-11"]),
    ((1997, 9, 1), "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
     ["1997-09-01", "1997-09-03", "1997-09-05", "1997-09-15", "1997-09-17", "1997-09-19",
      "1997-09-29", "1997-10-01", "1997-10-03", "1997-10-13", "1997-10-15", "1997-10-17",
      "1997-10-27", "1997-10-29", "1997-10-31", "1997-11-10", "1997-11-12", "1997-11-14",
      "1997-11-24", "1997-11-26", "1997-11-28", "1997-12-08", "1997-12-10", "1997-12-12",
      "1997-12-22"]),
    ((1997, 8, 5), "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
     ["1997-08-05", "1997-08-10", "1997-08-19", "1997-08-24"]),
    ((1997, 8, 5), "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
     ["1997-08-05", "1997-08-17", "1997-08-19", "1997-08-31"]),
    ((1997, 9, 5), "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
     ["1997-09-05", "1997-10-03", "1997-11-07", "1997-12-05", "1998-01-02", "1998-02-06",
      "1998-03-06", "1998-04-03", "1998-05-01", "1998-06-05"]),
    ((1997, 9, 22), "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
     ["1997-09-22", "1997-10-20", "1997-11-17", "1997-12-22", "1998-01-19", "1998-02-16"]),
    ((1997, 6, 10), "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
     ["1997-06-10", "1997-07-10", "1998-06-10", "1998-07-10", "1999-06-10", "1999-07-10",
      "2000-06-10", "2000-07-10", "2001-06-10", "2001-07-10"]),
    ((1997, 5, 19), "FREQ=YEARLY;BYDAY=20MO", ["1997-05-19", "1998-05-18", "1999-05-17"]),
    ((1997, 5, 12), "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
     ["1997-05-12", "1998-05-11", "1999-05-17"]),
    ((1996, 11, 5), "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
     ["1996-11-05", "2000-11-07"]),
    ((1997, 9, 4), "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
     ["1997-09-04", "1997-10-07", "1997-11-06"]),
    ((1997, 9, 30), "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
     ["1997-09-30", "1997-10-31", "1997-11-28", "1997-12-31", "1998-01-30", "1998-02-27",
      "1998-03-31", "1998-04-30", "1998-05-29", "1998-06-30", "1998-07-31", "1998-08-31",
      "1998-09-30", "1998-10-30", "1998-11-30", "1998-12-31", "1999-01-29", "1999-02-26",
      "1999-03-31", "1999-04-30", "1999-05-31", "1999-06-30", "1999-07-30", "1999-08-31",
      "1999-09-30", "1999-10-29", "1999-11-30", "1999-12-31"]),
    ((2007, 1, 15), "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
     ["2007-01-15", "2007-01-30", "2007-02-15", "2007-03-15", "2007-03-30"]),
]


@pytest.mark.parametrize(("first_day", "rule", "expected"), RFC_EXAMPLES)
def test_rfc_5545_examples(first_day: tuple[int, int, int], rule: str,
                           expected: list[str]) -> None:
    series = make_series(local(NEW_YORK, *first_day, 9), NEW_YORK, rule)
    cutoff = max(2000, first_day[0] + 1)  # the unbounded examples are listed up to 1999
    found = expand(series, utc(1996, 1, 1), utc(cutoff, 1, 1))
    assert local_dates(found, NEW_YORK) == [day for day in expected if day < str(cutoff)]
    assert {t[-5:] for t in local_times(found, NEW_YORK)} == {"09:00"}


def test_rfc_5545_friday_the_13th_with_dtstart_excluded() -> None:
    start = local(NEW_YORK, 1997, 9, 2, 9)
    series = make_series(start, NEW_YORK, "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
                         exdates=(start,))
    assert local_dates(expand(series, utc(1997, 1, 1), utc(2001, 1, 1)), NEW_YORK) == [
        "1998-02-13", "1998-03-13", "1998-11-13", "1999-08-13", "2000-10-13"]


def test_rfc_5545_every_15_minutes_for_6_occurrences() -> None:
    series = make_series(local(NEW_YORK, 1997, 9, 2, 9), NEW_YORK,
                         "FREQ=MINUTELY;INTERVAL=15;COUNT=6", minutes=5)
    assert [t[-5:] for t in local_times(expand(series, utc(1997, 9, 1), utc(1997, 9, 3)),
                                        NEW_YORK)] == [
        "09:00", "09:15", "09:30", "09:45", "10:00", "10:15"]


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("FREQ=DAILY;COUNT=3;UNTIL=20261231T000000Z", "COUNT and UNTIL"),
        ("FREQ=DAILY;FOO=1", "unknown rule part 'FOO'"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH values must be integers from 1 to 12; got '13'"),
        ("BYDAY=MO", "FREQ is required"),
        ("RRULE:FREQ=DAILY", "'RRULE:' prefix"),
        ("rrule:FREQ=DAILY", "'RRULE:' prefix"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ appears more than once"),
        ("FREQ=FORTNIGHTLY", "FREQ must be one of"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be an integer from 1"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be an integer from 1"),
        ("FREQ=DAILY;COUNT=-1", "COUNT must be an integer from 1"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY values must be integers from -31 to -1"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
        ("FREQ=YEARLY;BYYEARDAY=367", "BYYEARDAY"),
        ("FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR values must be integers from 0 to 23"),
        ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE"),
        ("FREQ=DAILY;BYSECOND=61", "BYSECOND"),
        ("FREQ=DAILY;BYHOUR=-1", "BYHOUR"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", "BYSETPOS"),
        ("FREQ=MONTHLY;BYDAY=XX", "BYDAY value 'XX'"),
        ("FREQ=MONTHLY;BYDAY=MO,", "BYDAY value ''"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,,2", "BYMONTHDAY values must be integers"),
        ("FREQ=MONTHLY;BYDAY=+MO", "BYDAY value '+MO'"),
        ("FREQ=MONTHLY;BYDAY=0MO", "BYDAY ordinal"),
        ("FREQ=YEARLY;BYDAY=54MO", "BYDAY ordinal"),
        ("FREQ=MONTHLY;BYDAY=6MO", "within a month must be from -5 to 5"),
        ("FREQ=WEEKLY;BYDAY=1MO", "need FREQ=MONTHLY or FREQ=YEARLY"),
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO", "cannot be combined with BYWEEKNO"),
        ("FREQ=WEEKLY;WKST=XY", "WKST must be one of"),
        ("FREQ=DAILY;UNTIL=2026-12-31", "UNTIL must be a DATE"),
        ("FREQ=DAILY;UNTIL=20261332", "is not a valid date"),
        ("FREQ=MONTHLY;BYWEEKNO=3", "BYWEEKNO is not allowed with FREQ=MONTHLY"),
        ("FREQ=MONTHLY;BYYEARDAY=3", "BYYEARDAY is not allowed with FREQ=MONTHLY"),
        ("FREQ=WEEKLY;BYMONTHDAY=3", "BYMONTHDAY is not allowed with FREQ=WEEKLY"),
        ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs another BYxxx"),
        ("FREQ=DAILY;BYHOUR=9,10;BYSETPOS=3,-3", "at most 2 candidates"),
        ("FREQ=HOURLY;BYMINUTE=0,30;BYSECOND=0,30;BYSETPOS=5", "at most 4 candidates"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "exclude every day"),
        ("FREQ=DAILY;", "is not of the form NAME=VALUE"),
        ("FREQ", "is not of the form NAME=VALUE"),
        ("", "empty"),
        ("FREQ=DAILY;BYMONTH=" + ",".join(["1"] * 500), "limit is 1000"),
    ],
)
def test_validate_rrule_rejects_with_a_precise_message(value: str, message: str) -> None:
    with pytest.raises(InvalidRecurrenceError, match=message.replace("+", r"\+")):
        validate_rrule(value)


@pytest.mark.parametrize(
    "value",
    [
        "FREQ=SECONDLY;INTERVAL=30",
        "FREQ=MINUTELY;BYSECOND=0,60",
        "FREQ=HOURLY;BYYEARDAY=1,-1",
        "FREQ=DAILY;UNTIL=20261231",
        "FREQ=WEEKLY;UNTIL=20261231T235959Z;WKST=SU;BYDAY=MO,WE",
        "FREQ=MONTHLY;BYDAY=1FR,-2MO;BYHOUR=9;BYMINUTE=30;BYSECOND=15",
        "FREQ=MONTHLY;BYMONTHDAY=-1,31",
        "FREQ=YEARLY;BYDAY=20MO",
        "FREQ=YEARLY;BYWEEKNO=-53,1;BYDAY=MO",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1,366",
        "FREQ=DAILY;BYHOUR=9,10;BYSETPOS=2,3",
        "FREQ=SECONDLY;BYHOUR=9;BYSETPOS=1",
        "freq=weekly;byday=mo",
        "FREQ=SECONDLY;COUNT=1000000000",
    ],
)
def test_validate_rrule_accepts_supported_rules(value: str) -> None:
    validate_rrule(value)


def test_expand_rejects_an_invalid_rule_and_an_unknown_zone() -> None:
    with pytest.raises(InvalidRecurrenceError):
        expand(make_series(utc(2026, 1, 1), "UTC", "FREQ=DAILY;FOO=1"), utc(2026, 1, 1),
               utc(2026, 1, 2))
    with pytest.raises(InvalidRecurrenceError, match="unknown time zone"):
        expand(make_series(utc(2026, 1, 1), "Mars/Olympus"), utc(2026, 1, 1), utc(2026, 1, 2))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        expand(MONDAYS, datetime(2026, 1, 1), utc(2026, 2, 1))


# -- cost and limits ---------------------------------------------------------------------


def test_minutely_over_a_month_is_too_many_instances() -> None:
    series = make_series(utc(2026, 1, 1), "UTC", "FREQ=MINUTELY", minutes=1)
    with pytest.raises(TooManyInstancesError, match="smaller window"):
        expand(series, utc(2026, 1, 1), utc(2026, 2, 1))
    assert len(expand(series, utc(2026, 1, 1), utc(2026, 1, 2))) == 1440


def test_limit_is_configurable() -> None:
    with pytest.raises(TooManyInstancesError):
        expand(MONDAYS, utc(2026, 1, 1), utc(2027, 1, 1), limit=10)
    assert MAX_INSTANCES_PER_QUERY == 10_000


def test_billion_secondly_instances_cost_nothing_for_a_one_minute_window() -> None:
    start = utc(2026, 1, 1, 12)
    series = make_series(start, "Europe/Paris", "FREQ=SECONDLY;COUNT=1000000000", minutes=0)
    found = expand(series, start, start + timedelta(minutes=1))
    assert len(found) == 60
    assert (found[0].start, found[-1].start) == (start, start + timedelta(seconds=59))
    assert series_bounds(series) == (start, None)


def test_far_future_query_of_a_secondly_rule_skips_ahead() -> None:
    start = utc(2026, 1, 1, 12)
    series = make_series(start, "Europe/Paris", "FREQ=SECONDLY;INTERVAL=7", minutes=0)
    far = utc(2400, 6, 1)
    found = expand(series, far, far + timedelta(seconds=30))
    paris = ZoneInfo("Europe/Paris")  # the rule steps in wall-clock seconds
    wall_elapsed = far.astimezone(paris).replace(tzinfo=None) - datetime(2026, 1, 1, 13)
    first = far + timedelta(seconds=-int(wall_elapsed.total_seconds()) % 7)
    assert starts(found) == [first + timedelta(seconds=7 * k) for k in range(len(found))]
    assert len(found) in (4, 5)


def test_dense_count_rule_that_cannot_skip_ahead_is_refused_rather_than_iterated() -> None:
    start = utc(2026, 1, 1, 12)
    # BYYEARDAY depends on the year's length: counted from DTSTART, 216 000 instances of
    # 2026-01-01..03 would be passed over before 2027.
    series = make_series(start, "Europe/Paris", "FREQ=SECONDLY;BYYEARDAY=1,2,3;COUNT=1000000000",
                         minutes=0)
    with pytest.raises(TooManyInstancesError, match="precede the window"):
        expand(series, utc(2027, 1, 1), utc(2027, 1, 1, 0, 1))


def test_dense_count_rule_far_from_its_start_is_counted_not_iterated() -> None:
    start = utc(2026, 1, 1, 12)
    series = make_series(start, "Europe/Paris", "FREQ=SECONDLY;COUNT=1000000000", minutes=0)
    stats = ExpansionStats()
    found = expand(series, utc(2027, 1, 1), utc(2027, 1, 1, 0, 1), stats=stats)
    assert starts(found) == [utc(2027, 1, 1) + timedelta(seconds=n) for n in range(60)]
    assert stats.rule_iterations <= 62
    assert stats.counted_without_iterating > 31_000_000


def test_count_still_ends_exactly_after_skipping_ahead() -> None:
    start = utc(2026, 7, 1)
    series = make_series(start, "UTC", "FREQ=SECONDLY;COUNT=1000000000", minutes=0)
    last = start + timedelta(seconds=999_999_999)
    assert starts(expand(series, last - timedelta(seconds=2), last + timedelta(days=1))) == [
        last - timedelta(seconds=2), last - timedelta(seconds=1), last]
    assert expand(series, last + timedelta(seconds=1), last + timedelta(days=300)) == []


@pytest.mark.parametrize(
    ("first", "rule", "window", "expected"),
    [
        # DTSTART off the rule counts as the first of the 5.
        ((2026, 1, 7, 9), "FREQ=WEEKLY;BYDAY=MO;COUNT=5", ((2026, 1, 26), (2026, 3, 1)),
         ["2026-01-26", "2026-02-02"]),
        # The 31st of short months is skipped, and not counted.
        ((2026, 1, 31, 9), "FREQ=MONTHLY;COUNT=8", ((2027, 1, 1), (2028, 1, 1)),
         ["2027-01-31"]),
        ((2026, 1, 31, 9), "FREQ=MONTHLY;COUNT=9", ((2027, 1, 1), (2028, 1, 1)),
         ["2027-01-31", "2027-03-31"]),
        # 2028, 2032, 2036, 2040 after 2024: the fifth February 29 is in 2040.
        ((2024, 2, 29, 9), "FREQ=YEARLY;COUNT=5", ((2035, 1, 1), (2050, 1, 1)),
         ["2036-02-29", "2040-02-29"]),
        # Fifth Fridays (2026: January, May, July, October), twice a day: the ninth is
        # the morning of 2027-01-29.
        ((2026, 1, 30, 9), "FREQ=MONTHLY;BYDAY=5FR;BYHOUR=9,15;COUNT=9",
         ((2026, 12, 1), (2028, 1, 1)), ["2027-01-29"]),
        # Four a day from 2026-03-02: the 400th is the last of 2026-06-09 (day 100).
        ((2026, 3, 2, 9), "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0,30;COUNT=400",
         ((2026, 6, 9), (2026, 6, 12)), ["2026-06-09"] * 4),
    ],
)
def test_count_rules_skip_ahead_and_count_exactly(first: tuple[int, ...], rule: str,
                                                  window: tuple[tuple[int, ...], ...],
                                                  expected: list[str]) -> None:
    series = make_series(local(NEW_YORK, *first), NEW_YORK, rule)
    window_start, window_end = utc(*window[0]), utc(*window[1])
    stats = ExpansionStats()
    found = expand(series, window_start, window_end, stats=stats)
    assert local_dates(found, NEW_YORK) == expected
    assert stats.counted_without_iterating > 0
    from_dtstart = expand(series, series.start, window_end, limit=10**6)
    assert found == [o for o in from_dtstart if o.end > window_start]


def test_a_rule_that_never_matches_costs_nothing() -> None:
    # Every seventh day from a Monday is never a Tuesday: only DTSTART.
    for extra in ("", ";COUNT=5"):
        series = make_series(local(NEW_YORK, 2026, 1, 5, 9), NEW_YORK,
                             "FREQ=DAILY;INTERVAL=7;BYDAY=TU" + extra)
        stats = ExpansionStats()
        assert local_dates(expand(series, utc(2026, 1, 1), utc(2027, 1, 1), stats=stats),
                           NEW_YORK) == ["2026-01-05"]
        assert stats.rule_iterations == 0


# -- series_bounds -----------------------------------------------------------------------


def test_series_bounds_of_an_unbounded_rule_has_no_end() -> None:
    assert series_bounds(MONDAYS) == (utc(2026, 3, 2, 14), None)


def test_series_bounds_skip_excluded_ends_and_count_overrides() -> None:
    series = make_series(local(NEW_YORK, 2026, 1, 5, 9), NEW_YORK,
                         "FREQ=DAILY;UNTIL=20300101T000000Z",
                         exdates=(local(NEW_YORK, 2026, 1, 5, 9),),
                         cancelled=frozenset({utc(2029, 12, 31, 14)}),
                         overrides={utc(2026, 1, 6, 14): InstanceOverride(
                             start=utc(2025, 12, 1, 10), end=utc(2025, 12, 1, 11))})
    assert series_bounds(series) == (utc(2025, 12, 1, 10), utc(2029, 12, 30, 15))


def test_series_bounds_of_a_large_count_is_unbounded() -> None:
    series = make_series(utc(2026, 1, 1), "UTC", "FREQ=DAILY;COUNT=10001")
    assert series_bounds(series) == (utc(2026, 1, 1), None)
    bounded = make_series(utc(2026, 1, 1), "UTC", "FREQ=DAILY;COUNT=10000")
    assert series_bounds(bounded) == (utc(2026, 1, 1), utc(2026, 1, 1, 1) + timedelta(9999))


def test_series_bounds_of_a_long_rule_that_cannot_skip_ahead_is_open_ended() -> None:
    rule = "FREQ=DAILY;BYHOUR=9,10;BYSETPOS=1;UNTIL={}0101T000000Z"
    start = local(NEW_YORK, 2026, 1, 1, 9)
    assert series_bounds(make_series(start, NEW_YORK, rule.format(2030))) == (
        utc(2026, 1, 1, 14), utc(2029, 12, 31, 15))
    # 27 000 instances until 2100: more than series_bounds lists.
    assert series_bounds(make_series(start, NEW_YORK, rule.format(2100))) == (
        utc(2026, 1, 1, 14), None)


def test_series_bounds_ignore_stale_overrides() -> None:
    stale = InstanceOverride(start=utc(2030, 3, 10, 15), end=utc(2030, 3, 10, 16))
    series = make_series(local(NEW_YORK, 2026, 3, 2, 9), NEW_YORK, "FREQ=WEEKLY;COUNT=3",
                         overrides={utc(2026, 3, 10, 13): stale})  # a Tuesday
    assert series_bounds(series) == (utc(2026, 3, 2, 14), utc(2026, 3, 16, 14))


def test_series_bounds_of_a_series_without_occurrences() -> None:
    start = utc(2026, 1, 1)
    series = make_series(start, "UTC", "FREQ=DAILY;COUNT=1", exdates=(start,))
    assert series_bounds(series) == (start, start)
    assert expand(series, utc(2025, 1, 1), utc(2027, 1, 1)) == []


# -- instance keys -----------------------------------------------------------------------


def test_instance_key_round_trip() -> None:
    assert instance_key(local(NEW_YORK, 2026, 11, 24, 9)) == "20261124T140000Z"
    assert parse_instance_key("20261124T140000Z") == utc(2026, 11, 24, 14)


@pytest.mark.parametrize("key", ["20261124T140000", "2026-11-24T14:00:00Z", "20261324T140000Z",
                                 "20261124T250000Z", " 20261124T140000Z", ""])
def test_parse_instance_key_rejects_other_text(key: str) -> None:
    with pytest.raises(ValueError):
        parse_instance_key(key)


# -- properties --------------------------------------------------------------------------

ZONES = ["UTC", NEW_YORK, "Europe/London", "Australia/Sydney", "Asia/Kolkata",
         "Pacific/Apia", "America/Sao_Paulo", "Australia/Lord_Howe"]
DAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def simple_rules(draw: st.DrawFn) -> str:
    """Rules the skip-ahead applies to (no COUNT, BYSETPOS, BYWEEKNO, BYYEARDAY)."""
    freq = draw(st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"]))
    intervals = {"HOURLY": [5, 7, 13], "MINUTELY": [97, 1441]}.get(freq, [1, 2, 3])
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.sampled_from(intervals))}"]
    if draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(st.sets(st.sampled_from(DAY_CODES), min_size=1))))
    if freq in ("YEARLY", "MONTHLY", "DAILY") and draw(st.booleans()):
        days = draw(st.sets(st.sampled_from([1, 13, 29, 30, 31, -1]), min_size=1))
        parts.append("BYMONTHDAY=" + ",".join(map(str, sorted(days))))
    if freq == "YEARLY" and draw(st.booleans()):
        parts.append("BYMONTH=" + ",".join(map(str, sorted(draw(
            st.sets(st.integers(1, 12), min_size=1, max_size=3))))))
    if freq in ("WEEKLY", "DAILY") and draw(st.booleans()):
        parts.append("BYHOUR=" + ",".join(map(str, sorted(draw(
            st.sets(st.integers(0, 23), min_size=1, max_size=3))))))
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAY_CODES))}")
    return ";".join(parts)


@st.composite
def series_and_windows(draw: st.DrawFn, rules: st.SearchStrategy[str]
                       ) -> tuple[Series, datetime, datetime]:
    zone = draw(st.sampled_from(ZONES))
    wall = draw(st.datetimes(datetime(2009, 1, 1), datetime(2024, 12, 31)))
    # fold=0: DTSTART takes the first of two ambiguous wall times (hypothesis draws both).
    wall = wall.replace(minute=wall.minute // 30 * 30, second=0, microsecond=0, fold=0)
    start = wall.replace(tzinfo=ZoneInfo(zone))
    window_start = start.astimezone(UTC) + timedelta(
        minutes=draw(st.integers(-60 * 24 * 10, 60 * 24 * 700)))
    short, long = st.integers(1, 60 * 24 * 3), st.integers(60 * 24 * 3, 60 * 24 * 400)
    window_end = window_start + timedelta(minutes=draw(short | long))
    rule = draw(rules)
    if draw(st.booleans()):  # UNTIL somewhere around the window
        until = window_start + timedelta(minutes=draw(st.integers(-60 * 24 * 5, 60 * 24 * 50)))
        rule += f";UNTIL={until:%Y%m%dT%H%M%SZ}"
    try:
        validate_rrule(rule)
    except InvalidRecurrenceError:
        assume(False)
    minutes = draw(st.sampled_from([0, 15, 60, 150, 24 * 60]))
    return make_series(start, zone, rule, minutes=minutes), window_start, window_end


def brute_force_starts(series: Series, window_start: datetime, window_end: datetime
                       ) -> list[datetime]:
    """Every instance from DTSTART on, straight from dateutil (aware local DTSTART)."""
    assert series.rrule is not None
    zone = ZoneInfo(series.timezone)
    first = series.start.astimezone(UTC).astimezone(zone).replace(microsecond=0)
    duration = series.end.astimezone(UTC) - series.start.astimezone(UTC)
    found = {series.start.astimezone(UTC)}
    for wall in rrulestr(series.rrule, dtstart=first):
        instant = wall.astimezone(UTC)
        if instant > window_end + timedelta(days=3):
            break
        found.add(instant)
    return sorted(s for s in found if in_window(s, s + duration, window_start, window_end))


def in_window(start: datetime, end: datetime, window_start: datetime,
              window_end: datetime) -> bool:
    if start == end:
        return window_start <= start < window_end
    return start < window_end and end > window_start


PROPERTY_SETTINGS = settings(max_examples=400, deadline=None,
                             suppress_health_check=[HealthCheck.filter_too_much,
                                                    HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(series_and_windows(simple_rules()))
def test_skip_ahead_equals_brute_force(case: tuple[Series, datetime, datetime]) -> None:
    series, window_start, window_end = case
    found = expand(series, window_start, window_end, limit=10**6)
    assert [o.original_start for o in found] == brute_force_starts(series, window_start,
                                                                   window_end)


@st.composite
def any_rules(draw: st.DrawFn) -> str:
    rule = draw(simple_rules())
    extra = draw(st.sampled_from(["", ";COUNT=7", ";COUNT=40", ";BYSETPOS=1,-1"]))
    if extra == ";BYSETPOS=1,-1" and "BYDAY" not in rule and "BYMONTHDAY" not in rule:
        extra = ""
    return rule + extra


@PROPERTY_SETTINGS
@given(series_and_windows(any_rules()), st.floats(0, 1))
def test_expansion_is_inside_sorted_unique_and_splits_cleanly(
    case: tuple[Series, datetime, datetime], split_at: float
) -> None:
    series, window_start, window_end = case
    found = expand(series, window_start, window_end, limit=10**6)
    assert all(in_window(o.start, o.end, window_start, window_end) for o in found)
    assert found == sorted(found, key=lambda o: (o.start, o.original_start))
    assert len({o.original_start for o in found}) == len(found)
    middle = window_start + (window_end - window_start) * split_at
    halves = expand(series, window_start, middle, limit=10**6) + expand(
        series, middle, window_end, limit=10**6)
    rejoined = {o.original_start: o for o in halves}
    assert sorted(rejoined.values(), key=lambda o: (o.start, o.original_start)) == found


@settings(max_examples=200, deadline=None)
@given(series_and_windows(simple_rules()), st.data())
def test_overrides_show_at_their_new_time(case: tuple[Series, datetime, datetime],
                                          data: st.DataObject) -> None:
    series, window_start, window_end = case
    originals = expand(series, window_start - timedelta(days=30), window_end + timedelta(days=30),
                       limit=10**6)
    assume(originals)
    chosen = data.draw(st.sampled_from(originals))
    shift = timedelta(minutes=data.draw(st.integers(-60 * 24 * 40, 60 * 24 * 40)))
    override = InstanceOverride(start=chosen.start + shift, end=chosen.end + shift)
    moved = replace(series, overrides={chosen.original_start: override})
    found = {o.original_start: o for o in expand(moved, window_start, window_end, limit=10**6)}
    expected_inside = in_window(override.start, override.end, window_start, window_end)
    assert (chosen.original_start in found) == expected_inside
    if expected_inside:
        assert found[chosen.original_start].start == override.start


@PROPERTY_SETTINGS
@given(series_and_windows(any_rules()))
def test_series_bounds_enclose_exactly_the_expansion(
    case: tuple[Series, datetime, datetime]
) -> None:
    series, _, _ = case
    earliest, latest = series_bounds(series)
    bounded = "COUNT" in (series.rrule or "") or "UNTIL" in (series.rrule or "")
    assert (latest is not None) == bounded
    horizon = latest if latest is not None else earliest + timedelta(days=400)
    found = expand(series, series.start - timedelta(days=1), horizon + timedelta(days=1),
                   limit=10**6)
    assert found, "DTSTART alone is an occurrence"
    assert earliest == found[0].start
    if latest is not None:
        assert latest == max(o.end for o in found)


@PROPERTY_SETTINGS
@given(series_and_windows(any_rules()))
def test_rules_iterated_from_dtstart_equal_dateutil_when_dtstart_is_on_the_rule(
    case: tuple[Series, datetime, datetime]
) -> None:
    series, window_start, window_end = case
    assert series.rrule is not None
    first = series.start.astimezone(UTC).astimezone(ZoneInfo(series.timezone))
    assume(next(iter(rrulestr(series.rrule, dtstart=first)), None) == first)
    found = expand(series, window_start, window_end, limit=10**6)
    assert [o.original_start for o in found] == brute_force_starts(series, window_start,
                                                                   window_end)


# -- COUNT rules skip ahead: properties against brute force from DTSTART ------------------

# Units of one period of each FREQ, to keep brute force to a few thousand iterations.
PERIOD_SECONDS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86_400,
                  "WEEKLY": 7 * 86_400, "MONTHLY": 30 * 86_400, "YEARLY": 365 * 86_400}
INTERVALS = {"SECONDLY": [1, 7, 45, 3600], "MINUTELY": [1, 20, 97, 1441],
             "HOURLY": [1, 5, 7, 13, 24], "DAILY": [1, 2, 3, 10], "WEEKLY": [1, 2, 3],
             "MONTHLY": [1, 2, 5, 18], "YEARLY": [1, 2, 4]}
FINER = {"HOURLY": ["BYMINUTE", "BYSECOND"], "MINUTELY": ["BYSECOND"], "SECONDLY": []}


def numbers(draw: st.DrawFn, low: int, high: int) -> str:
    return ",".join(map(str, sorted(draw(st.sets(st.integers(low, high), min_size=1,
                                                 max_size=2)))))


@st.composite
def count_rules(draw: st.DrawFn) -> tuple[str, str]:
    """(FREQ, rule with COUNT): the shapes the COUNT skip-ahead handles, and a few it does
    not (those iterate from DTSTART and must agree just the same)."""
    freq = draw(st.sampled_from(list(PERIOD_SECONDS)))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.sampled_from(INTERVALS[freq]))}"]
    if freq in ("MONTHLY", "YEARLY"):
        if draw(st.booleans()):
            days = draw(st.sets(st.sampled_from([1, 13, 28, 29, 30, 31, -1, -3]), min_size=1,
                                max_size=3))
            parts.append("BYMONTHDAY=" + ",".join(map(str, sorted(days))))
        if draw(st.booleans()):
            plain = st.sampled_from(DAY_CODES)
            ordinal = st.sampled_from(["1FR", "-1SU", "5MO", "2TU", "-2WE", "4TH"])
            parts.append("BYDAY=" + ",".join(draw(st.sets(plain | ordinal, min_size=1,
                                                          max_size=3))))
        if draw(st.booleans()):
            parts.append("BYMONTH=" + ",".join(map(str, sorted(draw(
                st.sets(st.integers(1, 12), min_size=1, max_size=3))))))
    elif draw(st.booleans()):
        parts.append("BYDAY=" + ",".join(draw(st.sets(st.sampled_from(DAY_CODES), min_size=1,
                                                      max_size=3))))
    for part, high in (("BYHOUR", 23), ("BYMINUTE", 59), ("BYSECOND", 59)):
        if part in FINER.get(freq, [part]) and draw(st.integers(0, 2)) == 0:
            parts.append(f"{part}={numbers(draw, 0, high)}")
    if freq in ("HOURLY", "MINUTELY", "SECONDLY") and draw(st.integers(0, 3)) == 0:
        parts.append(f"BYHOUR={numbers(draw, 0, 23)}")  # a filter, not an expansion
    if draw(st.integers(0, 6)) == 0:  # not handled by the skip-ahead: iterated
        parts.append(draw(st.sampled_from(["BYSETPOS=1", "BYMONTH=3,10"])))
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAY_CODES))}")
    count = draw(st.integers(1, 3000) | st.sampled_from([10**6, 10**9]))
    return freq, ";".join([*parts, f"COUNT={count}"])


def rule_walls(rule: str, first: datetime) -> Iterator[datetime]:
    """dateutil's walls for ``rule`` (without COUNT) from ``first``, none when it finds the
    BYxxx values unreachable."""
    try:
        return iter(rrulestr(rule, dtstart=first))
    except ValueError:
        return iter(())


def without_count(rule: str) -> str:
    return ";".join(p for p in rule.split(";") if not p.startswith("COUNT="))


@st.composite
def count_series_and_windows(draw: st.DrawFn) -> tuple[Series, datetime, datetime]:
    """A window near the n-th rule instance (n up to 3000, whether COUNT reaches it or not),
    so that brute force stays cheap and windows fall where the instances are."""
    freq, rule = draw(count_rules())
    try:
        validate_rrule(rule)
    except InvalidRecurrenceError:
        assume(False)
    zone = draw(st.sampled_from(ZONES))
    wall = draw(st.datetimes(datetime(2009, 1, 1), datetime(2024, 12, 31))).replace(
        microsecond=0, fold=0)
    start = wall.replace(tzinfo=ZoneInfo(zone))
    nth = draw(st.integers(0, 3000))
    walls = list(islice(rule_walls(without_count(rule), start), nth + 1))
    anchor = walls[-1] if walls else start
    interval = int(rule.split("INTERVAL=")[1].split(";")[0])
    period = min(PERIOD_SECONDS[freq] * interval, 86_400)
    window_start = anchor.astimezone(UTC) + timedelta(
        seconds=draw(st.integers(-2 * period, 2 * period)))
    window_end = window_start + timedelta(seconds=period * draw(st.integers(0, 20))
                                          + draw(st.integers(1, period)))
    assume(window_end < utc(9998, 12, 1))  # rule instances are generated up to 9998 only
    minutes = draw(st.sampled_from([0, 1, 15, 60, 24 * 60]))
    return make_series(start, zone, rule, minutes=minutes), window_start, window_end


def brute_force_count_starts(series: Series, window_start: datetime, window_end: datetime
                             ) -> list[datetime]:
    """COUNT as §3.3.10 says (DTSTART counts as the first occurrence), iterating dateutil
    from DTSTART without any skipping; COUNT counts wall times, as dateutil generates them."""
    assert series.rrule is not None
    zone = ZoneInfo(series.timezone)
    first = series.start.astimezone(UTC).astimezone(zone).replace(microsecond=0)
    parts = series.rrule.split(";")
    count = int(next(p for p in parts if p.startswith("COUNT="))[6:])
    duration = series.end.astimezone(UTC) - series.start.astimezone(UTC)
    found = {series.start.astimezone(UTC)}
    needed = None
    for taken, wall in enumerate(rule_walls(without_count(series.rrule), first)):
        if needed is None:
            needed = count if wall == first else count - 1
        if taken >= needed or wall.astimezone(UTC) > window_end + timedelta(days=3):
            break
        found.add(wall.astimezone(UTC))
    return sorted(s for s in found if in_window(s, s + duration, window_start, window_end))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(count_series_and_windows())
def test_count_skip_ahead_equals_brute_force_from_dtstart(
    case: tuple[Series, datetime, datetime]
) -> None:
    series, window_start, window_end = case
    found = expand(series, window_start, window_end, limit=10**6)
    assert [o.original_start for o in found] == brute_force_count_starts(
        series, window_start, window_end)


def brute_force_count_used(series: Series, moment: datetime) -> int:
    """DTSTART (when the rule does not produce it) and the rule's wall times within COUNT
    whose instants are before ``moment``, iterating from DTSTART."""
    assert series.rrule is not None
    zone = ZoneInfo(series.timezone)
    first = series.start.astimezone(UTC).astimezone(zone).replace(microsecond=0)
    count = int(next(p for p in series.rrule.split(";") if p.startswith("COUNT="))[6:])
    used, needed, on_rule = 0, None, False
    for taken, wall in enumerate(rule_walls(without_count(series.rrule), first)):
        if needed is None:
            on_rule = wall == first
            needed = count if on_rule else count - 1
        if taken >= needed or wall.astimezone(UTC) > moment + timedelta(days=3):
            break
        used += wall.astimezone(UTC) < moment
    return used + (not on_rule and series.start.astimezone(UTC) < moment)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(count_series_and_windows())
def test_count_used_before_equals_brute_force(case: tuple[Series, datetime, datetime]) -> None:
    series, moment, _ = case
    assert count_used_before(series, moment) == brute_force_count_used(series, moment)


def test_count_used_before_a_late_instance_is_counted_not_iterated() -> None:
    start = utc(2026, 7, 1)
    series = make_series(start, "UTC", "FREQ=SECONDLY;COUNT=1000000000", minutes=0)
    assert count_used_before(series, utc(2026, 7, 31, 12)) == 30 * 86_400 + 12 * 3_600
    assert count_used_before(series, utc(2099, 1, 1)) == 1_000_000_000
    assert count_used_before(series, start) == 0
    weekly = make_series(local(NEW_YORK, 2026, 1, 7, 9), NEW_YORK, "FREQ=WEEKLY;BYDAY=MO;COUNT=5")
    # The Wednesday DTSTART, then Mondays 01-12, 01-19 before 01-26 09:00 EST.
    assert count_used_before(weekly, utc(2026, 1, 26, 14)) == 3
    with pytest.raises(ValueError, match="COUNT"):
        count_used_before(MONDAYS, utc(2026, 6, 1))


# -- cost: rule iterations, not seconds --------------------------------------------------

ONE_WEEK = (utc(2026, 6, 1), utc(2026, 6, 8))


def iterations(series: Series, window: tuple[datetime, datetime] = ONE_WEEK) -> int:
    stats = ExpansionStats()
    expand(series, *window, stats=stats)
    return stats.rule_iterations


@pytest.mark.parametrize(("rule", "slack"), [
    # Periods of 20 minutes, a day, a week: the aligned start is at most one period early.
    ("FREQ=MINUTELY;INTERVAL=20", 3),
    ("FREQ=MINUTELY;INTERVAL=20;COUNT=100000000", 3),
    ("FREQ=DAILY;COUNT=100000", 3),
    ("FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9,14", 6),
    ("FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9,14;COUNT=100000", 6),
    # Repeats every lcm(5 h, 24 h) = 5 days, at most 12 instances each.
    ("FREQ=HOURLY;INTERVAL=5;BYHOUR=9,10,11,12,13,14;BYMINUTE=0,30;COUNT=1000000", 12),
    # Whole months and years: a month's weekdays, June's weekdays.
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;COUNT=100000", 23),
    ("FREQ=YEARLY;BYMONTH=6;BYDAY=MO,TU,WE,TH,FR;COUNT=100000", 22),
])
def test_a_week_costs_the_same_for_a_series_started_in_1997_as_last_week(rule: str,
                                                                          slack: int) -> None:
    old = make_series(local(NEW_YORK, 1997, 9, 2, 9), NEW_YORK, rule, minutes=10)
    new = make_series(local(NEW_YORK, 2026, 5, 25, 9), NEW_YORK, rule, minutes=10)
    assert abs(iterations(old) - iterations(new)) <= slack
    # ... and about as many as the week holds: nothing for the 29 years before it.
    assert iterations(old) <= len(expand(old, *ONE_WEEK)) + slack + 1


def test_every_20_minutes_for_a_week_iterates_the_week_only() -> None:
    old = make_series(local(NEW_YORK, 1997, 9, 2, 9), NEW_YORK, "FREQ=MINUTELY;INTERVAL=20",
                      minutes=10)
    new = make_series(local(NEW_YORK, 2026, 5, 25, 9), NEW_YORK, "FREQ=MINUTELY;INTERVAL=20",
                      minutes=10)
    assert len(expand(old, *ONE_WEEK)) == len(expand(new, *ONE_WEEK)) == 7 * 72
    assert iterations(old) in range(7 * 72, 7 * 72 + 5)
    assert iterations(new) in range(7 * 72, 7 * 72 + 5)
