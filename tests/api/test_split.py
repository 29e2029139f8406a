"""'This and following' (PATCH /v1/events/{instance_id}?scope=following): one atomic
command that ends the series before the instance and starts a new one there."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from tests.api.client import Api, User
from tests.api.support import eventually

WINDOW = {"start": "2026-11-01T00:00:00Z", "end": "2026-12-31T00:00:00Z"}


def weekly(organizer: User, *guests: User, count: int = 6) -> dict[str, Any]:
    return organizer.create_event(
        title="A", start="2026-11-02T09:00:00-05:00", end="2026-11-02T10:00:00-05:00",
        timezone="America/New_York", rrule=f"FREQ=WEEKLY;COUNT={count}",
        guests=[g.email for g in guests])


def view(user: User) -> list[dict[str, Any]]:
    response = user.get("/v1/calendar/view", params=WINDOW)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_split_moves_the_following_instances_to_a_new_series(api: Api) -> None:
    alice = api.sign_up("America/New_York")
    event = weekly(alice)
    root = event["event_id"]
    response = alice.patch(f"/v1/events/{root}_20261116T140000Z?scope=following",
                           json={"version": 1, "title": "B",
                                 "start": "2026-11-16T10:00:00-05:00",
                                 "end": "2026-11-16T11:00:00-05:00"})
    assert response.status_code == 200, response.text
    tail = response.json()
    assert (tail["series_id"], tail["version"], tail["title"]) == (root, 1, "B")
    assert tail["rrule"] == "FREQ=WEEKLY;COUNT=4"

    items = view(alice)
    assert [(i["title"], i["start"]) for i in items] == [
        ("A", "2026-11-02T14:00:00Z"), ("A", "2026-11-09T14:00:00Z"),
        ("B", "2026-11-16T15:00:00Z"), ("B", "2026-11-23T15:00:00Z"),
        ("B", "2026-11-30T15:00:00Z"), ("B", "2026-12-07T15:00:00Z")]
    head = alice.get(f"/v1/events/{root}").json()
    assert head["rrule"] == "FREQ=WEEKLY;UNTIL=20261116T135959Z"
    assert head["version"] == 2
    history = alice.get(f"/v1/events/{root}/history").json()["items"]
    assert [h["type"] for h in history] == ["created", "series_split"]


def test_instance_ids_and_overrides_survive_a_split(api: Api) -> None:
    alice = api.sign_up("America/New_York")
    root = weekly(alice)["event_id"]
    moved = alice.patch(f"/v1/events/{root}_20261130T140000Z",
                        json={"version": 1, "title": "special"})
    assert moved.status_code == 200, moved.text
    split = alice.patch(f"/v1/events/{root}_20261116T140000Z?scope=following",
                        json={"version": 2, "location": "Room 2"})
    assert split.status_code == 200, split.text
    items = view(alice)
    assert [i["instance_id"] for i in items] == [
        f"{root}_{d}T140000Z" for d in ("20261102", "20261109", "20261116", "20261123",
                                        "20261130", "20261207")]
    assert [i["title"] for i in items] == ["A", "A", "A", "A", "special", "A"]
    assert [i["location"] for i in items] == ["", "", "Room 2", "Room 2", "Room 2", "Room 2"]
    # The old instance id still addresses the instance, now held by the new series.
    cancel = alice.delete(f"/v1/events/{root}_20261207T140000Z")
    assert cancel.status_code == 204
    assert len(view(alice)) == 5


def test_split_at_the_first_instance_is_refused(api: Api) -> None:
    alice = api.sign_up("America/New_York")
    root = weekly(alice)["event_id"]
    response = alice.patch(f"/v1/events/{root}_20261102T140000Z?scope=following",
                           json={"version": 1, "title": "B"})
    assert response.status_code == 422
    assert alice.get(f"/v1/events/{root}").json()["version"] == 1


def test_a_guest_never_sees_both_series_or_neither(api: Api) -> None:
    alice, bob = api.sign_up("America/New_York"), api.sign_up("Europe/London")
    root = weekly(alice, bob, count=8)["event_id"]
    assert eventually(lambda: len(view(bob)) == 8)
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(len(view(bob)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response = alice.patch(f"/v1/events/{root}_20261116T140000Z?scope=following",
                               json={"version": 1, "title": "B"})
        assert response.status_code == 200
        for _ in range(20):
            seen.append(len(view(bob)))
    finally:
        stop.set()
        watcher.join()
    assert set(seen) == {8}
    assert eventually(lambda: [i["title"] for i in view(bob)] == ["A", "A"] + ["B"] * 6)


def test_splitting_a_long_count_series_shares_its_count_without_listing_it(api: Api) -> None:
    alice = api.sign_up("UTC")
    root = alice.create_event(title="Daily", start="2000-01-01T09:00:00Z",
                              end="2000-01-01T09:30:00Z", rrule="FREQ=DAILY;COUNT=20000")
    response = alice.patch(f"/v1/events/{root['event_id']}_20261116T090000Z?scope=following",
                           json={"version": 1, "title": "Later"})
    assert response.status_code == 200, response.text
    days_before = (date(2026, 11, 16) - date(2000, 1, 1)).days
    assert response.json()["rrule"] == f"FREQ=DAILY;COUNT={20000 - days_before}"
