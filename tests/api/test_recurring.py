"""Recurring events and instances (api-contract.md: Recurring events and instances)."""

from __future__ import annotations

from tests.api.client import Api, User
from tests.api.support import (
    assert_problem,
    eventually,
    instances,
    starts,
    view_items,
    window_items,
)


def test_weekly_instances_have_stable_ids(api: Api) -> None:
    alice = api.sign_up("UTC")
    event = alice.create_event(title="Weekly", start="2026-11-02T10:00:00Z",
                               end="2026-11-02T10:30:00Z", rrule="FREQ=WEEKLY;COUNT=3")
    event_id = event["event_id"]
    assert event["rrule"] == "FREQ=WEEKLY;COUNT=3"
    items = instances(alice, event_id, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert [i["instance_id"] for i in items] == [
        f"{event_id}_20261102T100000Z", f"{event_id}_20261109T100000Z",
        f"{event_id}_20261116T100000Z"]
    assert starts(items) == ["2026-11-02T10:00:00Z", "2026-11-09T10:00:00Z",
                             "2026-11-16T10:00:00Z"]
    assert [i["end"] for i in items] == ["2026-11-02T10:30:00Z", "2026-11-09T10:30:00Z",
                                         "2026-11-16T10:30:00Z"]
    for item in items:
        assert item["event_id"] == event_id
        assert item["is_recurring"] is True
        assert item["original_start"] == item["start"]
        assert item["title"] == "Weekly"
        assert item["status"] == "confirmed"
        assert item["organizer_id"] == alice.id
    # A window in the middle of the series returns only what falls inside it.
    middle = instances(alice, event_id, "2026-11-09T10:29:00Z", "2026-11-16T10:00:00Z")
    assert [i["instance_id"] for i in middle] == [f"{event_id}_20261109T100000Z"]
    assert instances(alice, event_id, "2026-11-17T00:00:00Z", "2027-11-17T00:00:00Z") == []


def test_instances_endpoint_validates_its_window(api: Api) -> None:
    alice = api.sign_up("UTC")
    event = alice.create_event(rrule="FREQ=DAILY")
    path = f"/v1/events/{event['event_id']}/instances"
    assert_problem(alice.get(path, params={"start": "2026-11-02T00:00:00Z",
                                           "end": "2026-11-01T00:00:00Z"}), 422)
    assert_problem(alice.get(path, params={"start": "2026-01-01T00:00:00Z",
                                           "end": "2027-01-03T00:00:00Z"}), 422)
    assert_problem(alice.get(path, params={"start": "2026-11-01T00:00:00Z"}), 422)
    assert_problem(alice.get(path, params={"start": "2026-11-01T00:00:00Z",
                                           "end": "2026-11-02T00:00:00Z", "tz": "Bad/Zone"}),
                   422)


def test_weekly_series_keeps_local_time_across_dst(api: Api) -> None:
    alice = api.sign_up("America/New_York")
    event = alice.create_event(title="Standup", start="2026-10-26T09:00:00-04:00",
                               end="2026-10-26T09:30:00-04:00", rrule="FREQ=WEEKLY;BYDAY=MO")
    event_id = event["event_id"]
    assert event["timezone"] == "America/New_York"
    items = instances(alice, event_id, "2026-10-20T00:00:00Z", "2026-11-10T00:00:00Z")
    assert [(i["instance_id"], i["start"], i["end"]) for i in items] == [
        (f"{event_id}_20261026T130000Z", "2026-10-26T13:00:00Z", "2026-10-26T13:30:00Z"),
        (f"{event_id}_20261102T140000Z", "2026-11-02T14:00:00Z", "2026-11-02T14:30:00Z"),
        (f"{event_id}_20261109T140000Z", "2026-11-09T14:00:00Z", "2026-11-09T14:30:00Z"),
    ]
    local = instances(alice, event_id, "2026-10-20T00:00:00Z", "2026-11-10T00:00:00Z",
                      tz="America/New_York")
    assert starts(local) == ["2026-10-26T09:00:00-04:00", "2026-11-02T09:00:00-05:00",
                             "2026-11-09T09:00:00-05:00"]
    # The views agree with the instances endpoint.
    assert starts(view_items(alice, view="week", date="2026-10-28")) == ["2026-10-26T13:00:00Z"]
    assert starts(view_items(alice, view="week", date="2026-11-04")) == ["2026-11-02T14:00:00Z"]


def test_series_in_another_zone_follows_that_zones_wall_clock(api: Api) -> None:
    """Recurrence is expanded in the event's zone, not the organizer's or the viewer's."""
    alice = api.sign_up("UTC")
    event = alice.create_event(title="Paris", timezone="Europe/Paris",
                               start="2026-10-19T09:00:00+02:00",
                               end="2026-10-19T10:00:00+02:00", rrule="FREQ=WEEKLY")
    items = instances(alice, event["event_id"], "2026-10-19T00:00:00Z", "2026-11-03T00:00:00Z")
    # Paris leaves summer time on 2026-10-25.
    assert starts(items) == ["2026-10-19T07:00:00Z", "2026-10-26T08:00:00Z",
                             "2026-11-02T08:00:00Z"]


def test_override_one_instance_moves_it(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    event = alice.create_event(title="Weekly", start="2026-11-02T10:00:00Z",
                               end="2026-11-02T11:00:00Z", rrule="FREQ=WEEKLY",
                               guests=[bob.email])
    event_id = event["event_id"]
    instance_id = f"{event_id}_20261109T100000Z"

    response = alice.patch(f"/v1/events/{instance_id}", json={
        "version": 1, "start": "2026-11-10T15:00:00Z", "end": "2026-11-10T16:30:00Z",
        "title": "Moved"})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    assert response.json()["event_id"] == event_id
    assert response.headers["etag"] == '"2"'
    assert response.json()["title"] == "Weekly"

    items = instances(alice, event_id, "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
    assert [(i["instance_id"], i["title"], i["start"], i["end"], i["original_start"])
            for i in items] == [
        (f"{event_id}_20261102T100000Z", "Weekly", "2026-11-02T10:00:00Z",
         "2026-11-02T11:00:00Z", "2026-11-02T10:00:00Z"),
        (instance_id, "Moved", "2026-11-10T15:00:00Z", "2026-11-10T16:30:00Z",
         "2026-11-09T10:00:00Z"),
        (f"{event_id}_20261116T100000Z", "Weekly", "2026-11-16T10:00:00Z",
         "2026-11-16T11:00:00Z", "2026-11-16T10:00:00Z"),
    ]
    # By its new time, not its old one.
    assert instances(alice, event_id, "2026-11-09T09:00:00Z", "2026-11-09T12:00:00Z") == []
    assert [i["instance_id"] for i in instances(
        alice, event_id, "2026-11-10T16:00:00Z", "2026-11-10T17:00:00Z")] == [instance_id]

    def day(user: User, date: str) -> list[tuple[str, str, str]]:
        return [(i["instance_id"], i["title"], i["start"])
                for i in view_items(user, view="day", date=date)]

    assert day(alice, "2026-11-09") == []
    assert day(alice, "2026-11-10") == [(instance_id, "Moved", "2026-11-10T15:00:00Z")]
    assert eventually(lambda: day(bob, "2026-11-10")) == [
        (instance_id, "Moved", "2026-11-10T15:00:00Z")]
    assert day(bob, "2026-11-09") == []
    assert day(bob, "2026-11-16") == [(f"{event_id}_20261116T100000Z", "Weekly",
                                       "2026-11-16T10:00:00Z")]

    # Busy time follows the move.
    busy = alice.post("/v1/availability", json={
        "user_ids": [alice.id], "start": "2026-11-09T00:00:00Z", "end": "2026-11-11T00:00:00Z"})
    assert busy.status_code == 200, busy.text
    assert busy.json()["busy"][alice.id] == [{"start": "2026-11-10T15:00:00Z",
                                              "end": "2026-11-10T16:30:00Z"}]

    # Moving it again keeps its id.
    again = alice.patch(f"/v1/events/{instance_id}", headers={"If-Match": '"2"'},
                        json={"start": "2026-11-11T08:00:00Z", "end": "2026-11-11T09:00:00Z"})
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 3
    moved = instances(alice, event_id, "2026-11-10T00:00:00Z", "2026-11-12T00:00:00Z")
    assert [(i["instance_id"], i["title"], i["start"]) for i in moved] == [
        (instance_id, "Moved", "2026-11-11T08:00:00Z")]


def test_override_preconditions_and_permissions(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    mallory = api.sign_up("UTC")
    event = alice.create_event(start="2026-11-02T10:00:00Z", end="2026-11-02T11:00:00Z",
                               rrule="FREQ=DAILY", guests=[bob.id])
    path = f"/v1/events/{event['event_id']}_20261105T100000Z"
    change = {"title": "Changed"}
    assert_problem(alice.patch(path, json=change), 428)
    assert assert_problem(alice.patch(path, json={"version": 5, **change}),
                          409)["current_version"] == 1
    assert eventually(lambda: bob.get(f"/v1/events/{event['event_id']}").status_code == 200)
    assert_problem(bob.patch(path, json={"version": 1, **change}), 403)
    assert_problem(mallory.patch(path, json={"version": 1, **change}), 404)
    assert_problem(alice.patch(path, json={"version": 1, "rrule": "FREQ=WEEKLY"}), 422)
    assert_problem(alice.patch(path, json={"version": 1, "start": "2026-11-05T12:00:00Z",
                                           "end": "2026-11-05T11:00:00Z"}), 422)
    assert alice.get(f"/v1/events/{event['event_id']}").json()["version"] == 1
    items = instances(alice, event["event_id"], "2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z")
    assert [(i["title"], i["start"]) for i in items] == [("Meeting", "2026-11-05T10:00:00Z")]


def test_delete_one_instance_cancels_only_it(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    event = alice.create_event(title="Daily", start="2026-11-02T10:00:00Z",
                               end="2026-11-02T11:00:00Z", rrule="FREQ=DAILY;COUNT=5",
                               guests=[bob.email])
    event_id = event["event_id"]
    window = ("2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z")
    all_five = [f"{event_id}_202611{d:02d}T100000Z" for d in range(2, 7)]
    assert [i["instance_id"] for i in instances(alice, event_id, *window)] == all_five
    assert eventually(lambda: [i["instance_id"] for i in window_items(bob, *window)]
                      == all_five)

    deleted = alice.delete(f"/v1/events/{event_id}_20261104T100000Z")
    assert deleted.status_code == 204, deleted.text
    remaining = [x for x in all_five if not x.endswith("20261104T100000Z")]
    assert [i["instance_id"] for i in instances(alice, event_id, *window)] == remaining
    assert [i["instance_id"] for i in window_items(alice, *window)] == remaining
    assert view_items(alice, view="day", date="2026-11-04") == []
    series = alice.get(f"/v1/events/{event_id}").json()
    assert series["status"] == "confirmed"
    assert series["version"] == 2
    assert eventually(lambda: [i["instance_id"] for i in window_items(bob, *window)]
                      == remaining)

    busy = alice.post("/v1/availability", json={
        "user_ids": [alice.id], "start": "2026-11-03T00:00:00Z", "end": "2026-11-06T00:00:00Z"})
    assert busy.json()["busy"][alice.id] == [
        {"start": "2026-11-03T10:00:00Z", "end": "2026-11-03T11:00:00Z"},
        {"start": "2026-11-05T10:00:00Z", "end": "2026-11-05T11:00:00Z"}]


def test_unknown_instance_ids_are_404(api: Api) -> None:
    alice = api.sign_up("UTC")
    series = alice.create_event(start="2026-11-02T10:00:00Z", end="2026-11-02T11:00:00Z",
                                rrule="FREQ=DAILY;COUNT=3")
    single = alice.create_event(start="2026-11-02T10:00:00Z", end="2026-11-02T11:00:00Z")
    body = {"version": 1, "title": "x"}
    for ref in (f"{series['event_id']}_20261102T103000Z",  # not an instance time
                f"{series['event_id']}_20261110T100000Z",  # after COUNT ran out
                f"{series['event_id']}_20261101T100000Z",  # before the series
                f"{series['event_id']}_garbage",
                f"{series['event_id']}_20261102T100000",
                f"{single['event_id']}_garbage"):
        assert_problem(alice.patch(f"/v1/events/{ref}", json=body), 404)
        assert_problem(alice.delete(f"/v1/events/{ref}"), 404)
    assert alice.get(f"/v1/events/{series['event_id']}").json()["version"] == 1
    assert alice.get(f"/v1/events/{single['event_id']}").json()["version"] == 1


def test_a_single_event_has_no_instance_ids(api: Api) -> None:
    """A non-recurring event's only instance is the event itself (its instance_id is the
    event id), so `{event_id}_{start}` names no instance of it: 404, nothing changes."""
    alice = api.sign_up("UTC")
    single = alice.create_event(title="Once", start="2026-11-02T10:00:00Z",
                                end="2026-11-02T11:00:00Z")
    event_id = single["event_id"]
    [item] = view_items(alice, view="day", date="2026-11-02")
    assert item["instance_id"] == event_id
    ref = f"{event_id}_20261102T100000Z"
    assert_problem(alice.patch(f"/v1/events/{ref}", json={"version": 1, "title": "Other"}),
                   404)
    assert_problem(alice.delete(f"/v1/events/{ref}"), 404)
    after = alice.get(f"/v1/events/{event_id}").json()
    assert (after["version"], after["title"], after["status"]) == (1, "Once", "confirmed")
    assert [(i["title"], i["start"]) for i in view_items(alice, view="day", date="2026-11-02")
            ] == [("Once", "2026-11-02T10:00:00Z")]


def test_minutely_rule_over_a_year_is_422_too_many_instances(api: Api) -> None:
    alice = api.sign_up("UTC")
    event = alice.create_event(title="Tick", start="2026-06-01T00:00:00Z",
                               end="2026-06-01T00:01:00Z", rrule="FREQ=MINUTELY")
    event_id = event["event_id"]
    problem = assert_problem(alice.get("/v1/calendar/view", params={
        "start": "2026-06-01T00:00:00Z", "end": "2027-06-02T00:00:00Z"}), 422)
    assert "window" in problem["detail"].lower()
    assert_problem(alice.get("/v1/calendar/view", params={
        "start": "2026-06-01T00:00:00Z", "end": "2027-06-01T00:00:00Z"}), 422)
    # The cap is 10,000 instances per event per query: exactly 10,000 is fine.
    path = f"/v1/events/{event_id}/instances"
    exactly = alice.get(path, params={"start": "2026-06-01T00:00:00Z",
                                      "end": "2026-06-07T22:40:00Z"})
    assert exactly.status_code == 200, exactly.text
    assert len(exactly.json()["items"]) == 10_000
    assert_problem(alice.get(path, params={"start": "2026-06-01T00:00:00Z",
                                           "end": "2026-06-07T22:41:00Z"}), 422)
    day = window_items(alice, "2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z")
    assert len(day) == 1440
    assert day[0]["instance_id"] == f"{event_id}_20260602T000000Z"
    assert day[-1]["instance_id"] == f"{event_id}_20260602T235900Z"


def test_secondly_rule_with_a_huge_count_can_be_stored_and_listed(api: Api) -> None:
    """A billion-instance rule is stored as a rule (nothing materialised): creating it and
    listing its first minute answers with exactly that minute. Its cost is asserted in
    iterations in tests/domain/test_recurrence.py, not in seconds here."""
    alice = api.sign_up("UTC")
    event = alice.create_event(title="Second", start="2026-07-01T00:00:00Z",
                               end="2026-07-01T00:00:01Z",
                               rrule="FREQ=SECONDLY;COUNT=1000000000")
    event_id = event["event_id"]
    first = instances(alice, event_id, "2026-07-01T00:00:00Z", "2026-07-01T00:01:00Z")
    assert len(first) == 60
    assert first[0]["instance_id"] == f"{event_id}_20260701T000000Z"
    assert first[-1]["instance_id"] == f"{event_id}_20260701T000059Z"


def test_secondly_rule_with_a_huge_count_late_in_the_series_is_cheap(api: Api) -> None:
    """Cost follows the instances in the window, not how long ago the series started: 2.6
    million instances precede this window, and are counted, not iterated (iteration counts
    are asserted in tests/domain/test_recurrence.py; no timing here)."""
    alice = api.sign_up("UTC")
    event = alice.create_event(title="Second", start="2026-07-01T00:00:00Z",
                               end="2026-07-01T00:00:01Z",
                               rrule="FREQ=SECONDLY;COUNT=1000000000")
    event_id = event["event_id"]
    later = instances(alice, event_id, "2026-07-31T12:00:00Z", "2026-07-31T12:01:00Z")
    assert [i["instance_id"] for i in later] == [
        f"{event_id}_20260731T1200{second:02d}Z" for second in range(60)]
    assert starts(later) == [f"2026-07-31T12:00:{second:02d}Z" for second in range(60)]
    # The billionth instance is 999,999,999 s after the first, and COUNT ends there.
    last = instances(alice, event_id, "2058-03-09T01:46:38Z", "2058-03-10T00:00:00Z")
    assert [i["instance_id"] for i in last] == [f"{event_id}_20580309T014638Z",
                                                f"{event_id}_20580309T014639Z"]
    assert instances(alice, event_id, "2058-03-09T01:46:40Z", "2059-03-09T00:00:00Z") == []


def test_scope_following_splits_the_series(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    event = alice.create_event(title="Weekly", start="2026-11-02T10:00:00Z",
                               end="2026-11-02T11:00:00Z", rrule="FREQ=WEEKLY",
                               guests=[bob.email])
    original = event["event_id"]
    window = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    before = [i["instance_id"] for i in window_items(alice, *window)]
    assert before == [f"{original}_202611{d:02d}T100000Z" for d in (2, 9, 16, 23, 30)]

    response = alice.patch(f"/v1/events/{original}_20261116T100000Z",
                           params={"scope": "following"},
                           json={"version": 1, "title": "Renamed"})
    assert response.status_code == 200, response.text
    following = response.json()
    assert following["event_id"] != original
    assert following["series_id"] == original
    assert following["title"] == "Renamed"
    assert following["start"] == "2026-11-16T10:00:00Z"
    assert following["rrule"] is not None and "FREQ=WEEKLY" in following["rrule"]
    assert [g["user_id"] for g in following["guests"]] == [bob.id]
    assert following["version"] == 1
    assert response.headers["etag"] == '"1"'

    head = alice.get(f"/v1/events/{original}").json()
    assert (head["version"], head["status"], head["title"]) == (2, "confirmed", "Weekly")
    assert starts(instances(alice, original, *window)) == ["2026-11-02T10:00:00Z",
                                                           "2026-11-09T10:00:00Z"]
    assert starts(instances(alice, following["event_id"], *window)) == [
        "2026-11-16T10:00:00Z", "2026-11-23T10:00:00Z", "2026-11-30T10:00:00Z"]

    def summary(user: User) -> list[tuple[str, str, str]]:
        return [(i["instance_id"], i["title"], i["start"]) for i in window_items(user, *window)]

    expected = [(f"{original}_202611{d:02d}T100000Z", title, f"2026-11-{d:02d}T10:00:00Z")
                for d, title in ((2, "Weekly"), (9, "Weekly"), (16, "Renamed"),
                                 (23, "Renamed"), (30, "Renamed"))]
    # Instance ids never change, also not after the series is split.
    assert summary(alice) == expected
    assert eventually(lambda: summary(bob) == expected), summary(bob)

    stale = alice.patch(f"/v1/events/{original}_20261123T100000Z",
                        params={"scope": "following"}, json={"version": 5, "title": "Stale"})
    assert_problem(stale, 409)
    assert summary(alice) == expected


def test_scope_following_moves_the_later_instances(api: Api) -> None:
    alice = api.sign_up("America/New_York")
    event = alice.create_event(title="Standup", start="2026-11-02T09:00:00-05:00",
                               end="2026-11-02T09:30:00-05:00", rrule="FREQ=WEEKLY;BYDAY=MO")
    original = event["event_id"]
    response = alice.patch(f"/v1/events/{original}_20261116T140000Z",
                           params={"scope": "following"},
                           json={"version": 1, "start": "2026-11-16T10:00:00-05:00",
                                 "end": "2026-11-16T10:30:00-05:00"})
    assert response.status_code == 200, response.text
    assert response.json()["series_id"] == original
    items = window_items(alice, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert starts(items) == ["2026-11-02T14:00:00Z", "2026-11-09T14:00:00Z",
                             "2026-11-16T15:00:00Z", "2026-11-23T15:00:00Z",
                             "2026-11-30T15:00:00Z"]
    assert_problem(alice.patch(f"/v1/events/{original}_20261116T140000Z",
                               params={"scope": "sideways"},
                               json={"version": 2, "title": "x"}), 422)
