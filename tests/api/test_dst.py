"""Recurrence across time-zone rule changes, through the HTTP API (docs/recurrence.md).

A series is expanded in its zone's wall-clock time: 09:00 stays 09:00 local and the UTC
instant moves when the zone's offset does. The transition dates below are written out from
the zone rules (not computed with the library under test):

- America/New_York: EDT from 2026-03-08 02:00, EST from 2026-11-01 02:00.
- Europe/London: BST from 2026-03-29 01:00 UTC, GMT from 2026-10-25 01:00 UTC.
- Australia/Sydney (southern hemisphere): AEST (+10) from 2026-04-05 03:00 AEDT, AEDT (+11)
  from 2026-10-04 02:00 AEST.
- Asia/Kolkata: +05:30 all year, no DST.
- Europe/Moscow: +04 summer / +03 winter until 2010-10-31; +04 all year from 2011-03-27
  (no change in autumn 2011); +03 all year from 2014-10-26.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.api.client import Api, User
from tests.api.support import eventually, instances, starts, view_items


def series(user: User, zone: str, start: str, rrule: str, minutes: int = 60,
           **fields: Any) -> str:
    """An event starting at local wall time `start` (with its offset) in `zone`."""
    begin = datetime.fromisoformat(start)
    event = user.create_event(title="Series", timezone=zone, start=begin.isoformat(),
                              end=(begin + timedelta(minutes=minutes)).isoformat(),
                              rrule=rrule, **fields)
    return str(event["event_id"])


def keys(event_id: str, *stamps: str) -> list[str]:
    return [f"{event_id}_{stamp}" for stamp in stamps]


def weeks(first: date, count: int) -> list[date]:
    return [first + timedelta(weeks=n) for n in range(count)]


# -- wall clock 09:00 stays 09:00 ---------------------------------------------------------


def test_new_york_weekly_nine_oclock_across_both_changes_of_2026(api: Api) -> None:
    user = api.sign_up("America/New_York")
    event_id = series(user, "America/New_York", "2026-02-23T09:00:00-05:00",
                      "FREQ=WEEKLY;BYDAY=MO")
    found = instances(user, event_id, "2026-02-20T00:00:00Z", "2026-12-01T00:00:00Z")
    mondays = weeks(date(2026, 2, 23), 41)
    summer = [date(2026, 3, 8) <= day < date(2026, 11, 1) for day in mondays]
    assert starts(found) == [f"{day}T{'13' if dst else '14'}:00:00Z"
                             for day, dst in zip(mondays, summer, strict=True)]
    assert [i["instance_id"] for i in found] == keys(
        event_id, *(f"{day:%Y%m%d}T{'13' if dst else '14'}0000Z"
                    for day, dst in zip(mondays, summer, strict=True)))
    local = instances(user, event_id, "2026-02-20T00:00:00Z", "2026-12-01T00:00:00Z",
                      tz="America/New_York")
    assert starts(local) == [f"{day}T09:00:00{'-04:00' if dst else '-05:00'}"
                             for day, dst in zip(mondays, summer, strict=True)]
    assert {i["end"][11:19] for i in local} == {"10:00:00"}


@pytest.mark.parametrize(("zone", "first", "expected"), [
    # New York, spring and autumn: -05:00 -> -04:00 -> -05:00.
    ("America/New_York", "2026-03-06T09:00:00-05:00",
     ["2026-03-06T14:00:00Z", "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z",
      "2026-03-09T13:00:00Z"]),
    ("America/New_York", "2026-10-30T09:00:00-04:00",
     ["2026-10-30T13:00:00Z", "2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z",
      "2026-11-02T14:00:00Z"]),
    # London: GMT -> BST on the last Sunday of March, back on the last Sunday of October.
    ("Europe/London", "2026-03-27T09:00:00+00:00",
     ["2026-03-27T09:00:00Z", "2026-03-28T09:00:00Z", "2026-03-29T08:00:00Z",
      "2026-03-30T08:00:00Z"]),
    ("Europe/London", "2026-10-23T09:00:00+01:00",
     ["2026-10-23T08:00:00Z", "2026-10-24T08:00:00Z", "2026-10-25T09:00:00Z",
      "2026-10-26T09:00:00Z"]),
    # Sydney, southern hemisphere: daylight time ends in April and starts in October.
    ("Australia/Sydney", "2026-04-03T09:00:00+11:00",
     ["2026-04-02T22:00:00Z", "2026-04-03T22:00:00Z", "2026-04-04T23:00:00Z",
      "2026-04-05T23:00:00Z"]),
    ("Australia/Sydney", "2026-10-02T09:00:00+10:00",
     ["2026-10-01T23:00:00Z", "2026-10-02T23:00:00Z", "2026-10-03T22:00:00Z",
      "2026-10-04T22:00:00Z"]),
    # Kolkata: no DST, the same instant every day, whatever New York does.
    ("Asia/Kolkata", "2026-03-06T09:00:00+05:30",
     ["2026-03-06T03:30:00Z", "2026-03-07T03:30:00Z", "2026-03-08T03:30:00Z",
      "2026-03-09T03:30:00Z"]),
])
def test_daily_nine_oclock_across_a_change(api: Api, zone: str, first: str,
                                            expected: list[str]) -> None:
    user = api.sign_up(zone)
    event_id = series(user, zone, first, "FREQ=DAILY;COUNT=4")
    day = date.fromisoformat(first[:10])
    found = instances(user, event_id, f"{day - timedelta(days=1)}T00:00:00Z",
                      f"{day + timedelta(days=5)}T00:00:00Z")
    assert starts(found) == expected
    local = instances(user, event_id, "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z", tz=zone)
    assert {i["start"][11:19] for i in local} == {"09:00:00"}


def test_sydney_weekly_moves_in_utc_in_april_and_october(api: Api) -> None:
    zone = "Australia/Sydney"
    user = api.sign_up(zone)
    event_id = series(user, zone, "2026-03-05T09:00:00+11:00", "FREQ=WEEKLY;BYDAY=TH")
    found = instances(user, event_id, "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z", tz=zone)
    thursdays = weeks(date(2026, 3, 5), 44)
    standard = [date(2026, 4, 5) <= day < date(2026, 10, 4) for day in thursdays]
    assert starts(found) == [f"{day}T09:00:00{'+10:00' if std else '+11:00'}"
                             for day, std in zip(thursdays, standard, strict=True)]
    # 09:00 in Sydney is the evening before in UTC: the instance id carries that date.
    assert found[0]["instance_id"] == f"{event_id}_20260304T220000Z"
    assert found[5]["instance_id"] == f"{event_id}_20260408T230000Z"
    assert found[-1]["instance_id"] == f"{event_id}_20261230T220000Z"  # 2026-12-31 09:00


def test_kolkata_weekly_is_the_same_utc_instant_all_year(api: Api) -> None:
    zone = "Asia/Kolkata"
    user = api.sign_up(zone)
    event_id = series(user, zone, "2026-01-05T09:00:00+05:30", "FREQ=WEEKLY")
    found = instances(user, event_id, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
    assert starts(found) == [f"{day}T03:30:00Z" for day in weeks(date(2026, 1, 5), 52)]
    local = instances(user, event_id, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", tz=zone)
    assert {i["start"][10:] for i in local} == {"T09:00:00+05:30"}


@pytest.mark.parametrize("rule", ["FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO;COUNT=300"])
def test_moscow_follows_the_2011_and_2014_rule_changes(api: Api, rule: str) -> None:
    zone = "Europe/Moscow"
    user = api.sign_up(zone)
    event_id = series(user, zone, "2010-10-04T09:00:00+04:00", rule)

    def mondays(start: str, end: str) -> list[tuple[str, str]]:
        found = instances(user, event_id, start, end, tz=zone)
        return [(i["start"], i["instance_id"].split("_")[1]) for i in found]

    # Autumn 2010: the last change back to winter time (+03).
    assert mondays("2010-10-20T00:00:00Z", "2010-11-03T00:00:00Z") == [
        ("2010-10-25T09:00:00+04:00", "20101025T050000Z"),
        ("2010-11-01T09:00:00+03:00", "20101101T060000Z")]
    # Spring 2011: +04, then no change in autumn 2011, nor in the winters after.
    assert mondays("2011-03-20T00:00:00Z", "2011-03-30T00:00:00Z") == [
        ("2011-03-21T09:00:00+03:00", "20110321T060000Z"),
        ("2011-03-28T09:00:00+04:00", "20110328T050000Z")]
    assert mondays("2011-10-20T00:00:00Z", "2011-11-03T00:00:00Z") == [
        ("2011-10-24T09:00:00+04:00", "20111024T050000Z"),
        ("2011-10-31T09:00:00+04:00", "20111031T050000Z")]
    assert mondays("2013-01-14T00:00:00Z", "2013-01-15T00:00:00Z") == [
        ("2013-01-14T09:00:00+04:00", "20130114T050000Z")]
    # 2014-10-26: back to +03 for good.
    assert mondays("2014-10-15T00:00:00Z", "2014-11-04T00:00:00Z") == [
        ("2014-10-20T09:00:00+04:00", "20141020T050000Z"),
        ("2014-10-27T09:00:00+03:00", "20141027T060000Z"),
        ("2014-11-03T09:00:00+03:00", "20141103T060000Z")]


# -- the spring-forward gap and the fall-back overlap (RFC 5545 §3.3.5) -------------------


def test_a_time_in_the_spring_forward_gap_uses_the_offset_before_the_gap(api: Api) -> None:
    zone = "America/New_York"
    user = api.sign_up(zone)
    event_id = series(user, zone, "2026-03-07T02:30:00-05:00", "FREQ=DAILY;COUNT=3")
    found = instances(user, event_id, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z", tz=zone)
    # 2026-03-08 02:30 does not exist: read with EST (-05:00) it is 07:30Z = 03:30 EDT.
    assert starts(found) == ["2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00",
                             "2026-03-09T02:30:00-04:00"]
    assert [i["instance_id"] for i in found] == keys(
        event_id, "20260307T073000Z", "20260308T073000Z", "20260309T063000Z")


def test_london_gap_time_is_read_in_gmt(api: Api) -> None:
    zone = "Europe/London"
    user = api.sign_up(zone)
    event_id = series(user, zone, "2026-03-28T01:30:00+00:00", "FREQ=DAILY;COUNT=3")
    found = instances(user, event_id, "2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z")
    assert starts(found) == ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z",
                             "2026-03-30T00:30:00Z"]


def test_a_time_in_the_fall_back_overlap_is_its_first_occurrence(api: Api) -> None:
    zone = "America/New_York"
    user = api.sign_up(zone)
    event_id = series(user, zone, "2026-10-31T01:30:00-04:00", "FREQ=DAILY;COUNT=3")
    found = instances(user, event_id, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z", tz=zone)
    assert starts(found) == ["2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00",
                             "2026-11-02T01:30:00-05:00"]
    assert [i["instance_id"] for i in found] == keys(
        event_id, "20261031T053000Z", "20261101T053000Z", "20261102T063000Z")


def test_sydney_gap_in_october_and_overlap_in_april(api: Api) -> None:
    zone = "Australia/Sydney"
    user = api.sign_up(zone)
    gap = series(user, zone, "2026-10-03T02:30:00+10:00", "FREQ=DAILY;COUNT=2")
    assert starts(instances(user, gap, "2026-10-02T00:00:00Z", "2026-10-05T00:00:00Z",
                            tz=zone)) == ["2026-10-03T02:30:00+10:00",
                                          "2026-10-04T03:30:00+11:00"]
    overlap = series(user, zone, "2026-04-04T02:30:00+11:00", "FREQ=DAILY;COUNT=3")
    assert starts(instances(user, overlap, "2026-04-03T00:00:00Z", "2026-04-07T00:00:00Z",
                            tz=zone)) == ["2026-04-04T02:30:00+11:00",
                                          "2026-04-05T02:30:00+11:00",
                                          "2026-04-06T02:30:00+10:00"]


def test_hourly_rule_across_the_gap_and_the_overlap(api: Api) -> None:
    """Hourly in wall-clock time: the gap's 02:30 and 03:30 EDT name one instant (one
    instance); the repeated 01:30 is taken once, in its first (EDT) occurrence."""
    zone = "America/New_York"
    user = api.sign_up(zone)
    spring = series(user, zone, "2026-03-08T00:30:00-05:00", "FREQ=HOURLY;COUNT=5", minutes=15)
    assert starts(instances(user, spring, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z")) == [
        "2026-03-08T05:30:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z",
        "2026-03-08T08:30:00Z"]
    autumn = series(user, zone, "2026-11-01T00:30:00-04:00", "FREQ=HOURLY;COUNT=3", minutes=15)
    assert starts(instances(user, autumn, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")) == [
        "2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z"]


@pytest.mark.parametrize(("until", "last"), [
    ("20261102T140000Z", "2026-11-02T14:00:00Z"),  # exactly 09:00 EST: inclusive
    ("20261102T135959Z", "2026-11-01T14:00:00Z"),
    ("20260309T130000Z", "2026-03-09T13:00:00Z"),  # 09:00 EDT
    ("20260310T125959Z", "2026-03-09T13:00:00Z"),  # a second before 2026-03-10 09:00 EDT
])
def test_until_in_utc_bounds_the_instant_across_dst(api: Api, until: str, last: str) -> None:
    zone = "America/New_York"
    user = api.sign_up(zone)
    event_id = series(user, zone, "2026-01-05T09:00:00-05:00", f"FREQ=DAILY;UNTIL={until}")
    found = instances(user, event_id, "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z")
    assert found[-1]["start"] == last
    assert all(i["start"] <= last for i in found)


# -- all-day events: the same dates for every viewer --------------------------------------

EDGES = ("Pacific/Kiritimati", "Pacific/Pago_Pago")  # +14 and -11: 25 hours apart


def on(user: User, day: str) -> list[tuple[str, str, str]]:
    return [(i["event_id"], i["start"], i["end"])
            for i in view_items(user, view="day", date=day)]


def seen_by(user: User, day: str) -> Callable[[], list[tuple[str, str, str]]]:
    return lambda: on(user, day)


@pytest.mark.parametrize("organizer_zone", [*EDGES, "America/New_York"])
def test_all_day_event_is_on_the_same_date_at_both_ends_of_the_earth(
        api: Api, organizer_zone: str) -> None:
    organizer = api.sign_up(organizer_zone)
    viewers = [api.sign_up(zone) for zone in EDGES]
    event = organizer.create_event(title="Holiday", all_day=True, start="2026-11-24",
                                   end="2026-11-25", timezone=organizer_zone,
                                   guests=[v.email for v in viewers])
    expected = [(event["event_id"], "2026-11-24", "2026-11-25")]
    assert on(organizer, "2026-11-24") == expected
    for viewer in viewers:
        assert eventually(seen_by(viewer, "2026-11-24")) == expected
        assert on(viewer, "2026-11-23") == []
        assert on(viewer, "2026-11-25") == []


def test_weekly_all_day_event_keeps_its_dates_across_dst_for_both_ends(api: Api) -> None:
    organizer = api.sign_up("Europe/London")
    viewers = [api.sign_up(zone) for zone in EDGES]
    event = organizer.create_event(title="Mondays", all_day=True, start="2026-03-16",
                                   end="2026-03-17", timezone="Europe/London",
                                   rrule="FREQ=WEEKLY;COUNT=4",
                                   guests=[v.email for v in viewers])
    event_id = event["event_id"]
    mondays = ["2026-03-16", "2026-03-23", "2026-03-30", "2026-04-06"]  # BST from 03-29
    found = instances(organizer, event_id, "2026-03-10T00:00:00Z", "2026-04-20T00:00:00Z")
    assert [(i["start"], i["end"]) for i in found] == [
        (day, str(date.fromisoformat(day) + timedelta(days=1))) for day in mondays]
    for viewer in viewers:
        for day in mondays:
            assert [x[1] for x in eventually(seen_by(viewer, day))] == [day]
        assert on(viewer, "2026-03-29") == on(viewer, "2026-03-31") == []


def test_weekly_all_day_event_on_the_fall_back_sunday(api: Api) -> None:
    organizer = api.sign_up("America/New_York")
    event = organizer.create_event(title="Sundays", all_day=True, start="2026-10-25",
                                   end="2026-10-26", timezone="America/New_York",
                                   rrule="FREQ=WEEKLY;COUNT=3")
    found = instances(organizer, event["event_id"], "2026-10-20T00:00:00Z",
                      "2026-11-20T00:00:00Z")
    assert [(i["start"], i["end"]) for i in found] == [
        ("2026-10-25", "2026-10-26"), ("2026-11-01", "2026-11-02"), ("2026-11-08", "2026-11-09")]
    assert [x[1] for x in on(organizer, "2026-11-01")] == ["2026-11-01"]
