"""Events: create, read, edit, guests, cancel, history, all-day (api-contract.md: Events)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.api.client import Api, User
from tests.api.support import (
    assert_problem,
    assert_validation_errors,
    availability,
    event_ids,
    eventually,
    inbox,
    inbox_ids,
    view_items,
    visible,
    window_items,
)

NOV_24 = {"start": "2026-11-24T09:00:00-05:00", "end": "2026-11-24T10:00:00-05:00"}


def get_event(user: User, event_id: str) -> dict[str, Any]:
    response = user.get(f"/v1/events/{event_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def guest_ids(event: dict[str, Any]) -> set[str]:
    return {g["user_id"] for g in event["guests"]}


# -- create -----------------------------------------------------------------------------


def test_create_returns_201_location_etag_and_defaults(api: Api) -> None:
    alice = api.sign_up("America/New_York", name="Alice")
    response = alice.post("/v1/events", json={"title": "Planning", **NOV_24})
    assert response.status_code == 201, response.text
    body = response.json()
    event_id = body["event_id"]
    uuid.UUID(event_id)
    assert response.headers["location"] == f"/v1/events/{event_id}"
    assert response.headers["etag"] == '"1"'
    assert body["version"] == 1
    assert body["organizer_id"] == alice.id
    assert body["title"] == "Planning"
    assert body["start"] == "2026-11-24T14:00:00Z"
    assert body["end"] == "2026-11-24T15:00:00Z"
    assert body["timezone"] == "America/New_York"
    assert body["all_day"] is False
    assert body["transparency"] == "opaque"
    assert body["status"] == "confirmed"
    assert body["rrule"] is None
    assert body["exdates"] == []
    assert body["rdates"] == []
    assert body["guests"] == []
    assert body["series_id"] is None
    assert body["description"] == ""
    assert body["location"] == ""
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(body[stamp].replace("Z", "+00:00")).tzinfo is not None

    # Read-your-own-writes: the organizer's GET and view show it at once.
    fetched = get_event(alice, event_id)
    for key in ("event_id", "organizer_id", "title", "start", "end", "timezone", "all_day",
                "transparency", "status", "rrule", "guests", "version", "series_id"):
        assert fetched[key] == body[key], key
    items = view_items(alice, view="day", date="2026-11-24")
    assert [(i["event_id"], i["title"], i["start"], i["end"], i["rsvp_status"])
            for i in items] == [(event_id, "Planning", "2026-11-24T14:00:00Z",
                                 "2026-11-24T15:00:00Z", "organizer")]
    assert items[0]["instance_id"] == event_id
    assert items[0]["is_recurring"] is False
    assert items[0]["organizer_id"] == alice.id
    assert items[0]["status"] == "confirmed"


def test_create_with_explicit_fields(api: Api) -> None:
    alice = api.sign_up("America/New_York")
    event = alice.create_event(title="Offsite", timezone="Europe/Paris",
                               location="Room 4", description="Bring a laptop",
                               transparency="transparent", start="2026-11-25T09:00:00+01:00",
                               end="2026-11-25T17:00:00+01:00")
    assert event["timezone"] == "Europe/Paris"
    assert event["location"] == "Room 4"
    assert event["description"] == "Bring a laptop"
    assert event["transparency"] == "transparent"
    assert (event["start"], event["end"]) == ("2026-11-25T08:00:00Z", "2026-11-25T16:00:00Z")


def test_all_day_event_defaults_to_transparent_and_renders_dates(api: Api) -> None:
    alice = api.sign_up("Europe/Berlin")
    event = alice.create_event(title="Holiday", all_day=True, start="2026-12-24",
                               end="2026-12-26")
    assert event["all_day"] is True
    assert event["transparency"] == "transparent"
    assert (event["start"], event["end"]) == ("2026-12-24", "2026-12-26")
    assert event["timezone"] == "Europe/Berlin"
    fetched = get_event(alice, event["event_id"])
    assert (fetched["start"], fetched["end"]) == ("2026-12-24", "2026-12-26")
    opaque = alice.create_event(title="Busy day", all_day=True, start="2026-12-28",
                                end="2026-12-29", transparency="opaque")
    assert opaque["transparency"] == "opaque"


def test_organizer_is_not_a_guest_and_guests_are_deduplicated(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    event = alice.create_event(guests=[alice.email, bob.email, bob.id, bob.email.upper()])
    assert event["guests"] == [{"user_id": bob.id, "email": bob.email,
                                "rsvp_status": "pending"}]


def test_boundary_values_are_accepted(api: Api) -> None:
    alice = api.sign_up("UTC")
    longest = alice.create_event(title="t" * 500, start="2026-12-01T00:00:00Z",
                                 end="2027-01-01T00:00:00Z", description="d" * 8192)
    assert longest["title"] == "t" * 500
    assert len(longest["description"]) == 8192


BASE = {"title": "Meeting", "start": "2027-03-10T09:00:00Z", "end": "2027-03-10T10:00:00Z"}


@pytest.mark.parametrize(("change", "field"), [
    ({"end": "2027-03-10T09:00:00Z"}, None),
    ({"end": "2027-03-10T08:00:00Z"}, None),
    ({"end": "2027-04-10T09:00:01Z"}, None),
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "t" * 501}, "title"),
    ({"description": "d" * 8193}, "description"),
    ({"description": "é" * 4097}, "description"),
    ({"rrule": "FREQ=FOO"}, "rrule"),
    ({"rrule": "COUNT=2;UNTIL=20270101T000000Z;FREQ=DAILY"}, "rrule"),
    ({"rrule": "RRULE:FREQ=DAILY"}, "rrule"),
    ({"start": "2027-03-10T09:00:00"}, "start"),
    ({"end": "2027-03-10T10:00:00"}, "end"),
    ({"start": "not a time"}, "start"),
    ({"colour": "red"}, "colour"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"transparency": "sometimes"}, "transparency"),
    ({"all_day": True}, None),
    ({"start": "2027-03-10", "end": "2027-03-11"}, None),
    ({"guests": [f"guest{i}@example.org" for i in range(5001)]}, "guests"),
    ({"title": None}, "title"),
])
def test_invalid_event_is_422_and_creates_nothing(api: Api, change: dict[str, Any],
                                                  field: str | None) -> None:
    alice = api.sign_up("UTC")
    body = {**BASE, **change}
    if "title" in change and change["title"] is None:
        del body["title"]
    problem = assert_problem(alice.post("/v1/events", json=body), 422)
    if field is not None:
        assert_validation_errors(problem, field)
    assert window_items(alice, "2027-03-01T00:00:00Z", "2027-05-01T00:00:00Z") == []


def test_unknown_guest_is_422_naming_it(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    ghost_id = str(uuid.uuid4())
    response = alice.post("/v1/events", json={**BASE, "guests": [
        bob.email, "nobody-here@example.org", ghost_id]})
    problem = assert_problem(response, 422)
    assert "nobody-here@example.org" in response.text
    assert ghost_id in response.text
    assert bob.email not in problem["detail"]
    assert window_items(alice, "2027-03-01T00:00:00Z", "2027-05-01T00:00:00Z") == []
    # Bob was not invited to anything.
    assert inbox(bob) == []


# -- read -------------------------------------------------------------------------------


def test_get_is_visible_to_organizer_and_guests_only(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("Europe/Paris")
    mallory = api.sign_up("UTC")
    event = alice.create_event(title="Private", guests=[bob.email])
    event_id = event["event_id"]

    assert get_event(alice, event_id)["title"] == "Private"
    assert eventually(lambda: visible(bob, event_id))
    seen_by_bob = get_event(bob, event_id)
    assert seen_by_bob["title"] == "Private"
    assert seen_by_bob["organizer_id"] == alice.id
    assert guest_ids(seen_by_bob) == {bob.id}

    for path in (f"/v1/events/{event_id}", f"/v1/events/{event_id}/history",
                 f"/v1/events/{event_id}/instances?start=2026-11-01T00:00:00Z"
                 "&end=2026-12-01T00:00:00Z"):
        stranger = assert_problem(mallory.get(path), 404)
        assert "Private" not in str(stranger)
        unknown = mallory.get(path.replace(event_id, str(uuid.uuid4())))
        # Not visible and does not exist look the same.
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == stranger["detail"]
    assert_problem(alice.get(f"/v1/events/{uuid.uuid4()}"), 404)
    assert_problem(alice.get("/v1/events/not-an-event-id"), 404)
    assert_problem(alice.get("/v1/events/not-an-event-id/history"), 404)


# -- edit -------------------------------------------------------------------------------


def test_patch_versions_etags_and_conflicts(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    mallory = api.sign_up("UTC")
    event = alice.create_event(title="v1", guests=[bob.id])
    path = f"/v1/events/{event['event_id']}"

    second = alice.patch(path, json={"version": 1, "title": "v2"})
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 2
    assert second.json()["title"] == "v2"
    assert second.headers["etag"] == '"2"'
    assert get_event(alice, event["event_id"])["title"] == "v2"

    third = alice.patch(path, json={"location": "Room 1"}, headers={"If-Match": '"2"'})
    assert third.status_code == 200, third.text
    assert third.json()["version"] == 3
    assert third.headers["etag"] == '"3"'
    assert third.json()["location"] == "Room 1"
    assert third.json()["title"] == "v2"

    stale = alice.patch(path, json={"version": 2, "title": "stale"})
    assert assert_problem(stale, 409)["current_version"] == 3
    stale_header = alice.patch(path, json={"title": "stale"}, headers={"If-Match": '"1"'})
    assert assert_problem(stale_header, 409)["current_version"] == 3

    assert_problem(alice.patch(path, json={"title": "no version"}), 428)

    assert eventually(lambda: visible(bob, event["event_id"]))
    assert_problem(bob.patch(path, json={"version": 3, "title": "guest edit"}), 403)
    assert_problem(mallory.patch(path, json={"version": 3, "title": "stranger"}), 404)
    assert_problem(mallory.patch(f"/v1/events/{uuid.uuid4()}",
                                 json={"version": 1, "title": "x"}), 404)
    assert_problem(alice.patch("/v1/events/garbage", json={"version": 1, "title": "x"}), 404)

    after = get_event(alice, event["event_id"])
    assert after["version"] == 3
    assert after["title"] == "v2"


def test_patch_validation(api: Api) -> None:
    alice = api.sign_up("UTC")
    event = alice.create_event(start="2026-11-26T09:00:00Z", end="2026-11-26T10:00:00Z")
    path = f"/v1/events/{event['event_id']}"
    for change in ({"title": ""}, {"end": "2026-11-26T08:00:00Z"},
                   {"start": "2026-11-26T10:00:00Z"}, {"end": "2027-01-01T00:00:00Z"},
                   {"rrule": "FREQ=FOO"}, {"colour": "red"}, {"timezone": "Nowhere/X"},
                   {"guests": ["nobody-at-all@example.org"]}, {"start": "2026-11-26T08:00:00"}):
        assert_problem(alice.patch(path, json={"version": 1, **change}), 422)
    assert_problem(alice.patch(path, content=b'{"version": 1, "title":',
                               headers={"Content-Type": "application/json"}), 400)
    after = get_event(alice, event["event_id"])
    assert after["version"] == 1
    assert (after["start"], after["end"], after["title"]) == (
        "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z", "Meeting")


def test_patch_moves_the_event_in_the_view(api: Api) -> None:
    alice = api.sign_up("UTC")
    event = alice.create_event(start="2026-11-26T09:00:00Z", end="2026-11-26T10:00:00Z")
    moved = alice.patch(f"/v1/events/{event['event_id']}", json={
        "version": 1, "start": "2026-11-27T15:00:00+01:00", "end": "2026-11-27T16:30:00+01:00"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["start"], moved.json()["end"]) == ("2026-11-27T14:00:00Z",
                                                            "2026-11-27T15:30:00Z")
    assert view_items(alice, view="day", date="2026-11-26") == []
    assert [(i["event_id"], i["start"]) for i in view_items(alice, view="day",
                                                            date="2026-11-27")] == [
        (event["event_id"], "2026-11-27T14:00:00Z")]


def test_patch_guests_invites_and_uninvites(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    carol = api.sign_up("UTC")
    dave = api.sign_up("UTC")
    event = alice.create_event(title="Team", start="2026-11-30T10:00:00Z",
                               end="2026-11-30T11:00:00Z", guests=[bob.email, carol.id])
    event_id = event["event_id"]

    def in_week(user: User) -> bool:
        return event_id in event_ids(view_items(user, view="week", date="2026-11-30"))

    assert eventually(lambda: in_week(bob) and event_id in inbox_ids(bob))
    assert eventually(lambda: in_week(carol) and event_id in inbox_ids(carol))
    assert inbox_ids(dave) == []

    changed = alice.patch(f"/v1/events/{event_id}",
                          json={"version": 1, "guests": [carol.email, dave.id]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert guest_ids(changed.json()) == {carol.id, dave.id}
    assert guest_ids(get_event(alice, event_id)) == {carol.id, dave.id}

    # Bob is uninvited: the event disappears from his GET, view and inbox.
    assert eventually(lambda: bob.get(f"/v1/events/{event_id}").status_code == 404)
    assert eventually(lambda: not in_week(bob))
    assert eventually(lambda: event_id not in inbox_ids(bob))
    assert_problem(bob.get(f"/v1/events/{event_id}"), 404)
    assert_problem(bob.patch(f"/v1/invitations/{event_id}/rsvp", json={"status": "yes"}), 404)

    # Dave is invited: a pending invitation, the event in his view and GET.
    assert eventually(lambda: event_id in inbox_ids(dave))
    [invitation] = inbox(dave)
    assert invitation["event_id"] == event_id
    assert invitation["organizer_id"] == alice.id
    assert invitation["title"] == "Team"
    assert (invitation["start"], invitation["end"]) == ("2026-11-30T10:00:00Z",
                                                        "2026-11-30T11:00:00Z")
    assert invitation["rsvp_status"] == "pending"
    assert eventually(lambda: in_week(dave))
    assert eventually(lambda: visible(dave, event_id))

    # Carol is untouched.
    assert in_week(carol)
    assert event_id in inbox_ids(carol)


# -- cancel -----------------------------------------------------------------------------


def test_delete_cancels_everywhere(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    window = {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T12:00:00Z"}
    event = alice.create_event(title="Doomed", start="2026-12-01T10:00:00Z",
                               end="2026-12-01T11:00:00Z", guests=[bob.email])
    event_id = event["event_id"]
    busy = [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"}]

    def busy_of(user: User) -> list[dict[str, str]]:
        return list(availability(alice, user_ids=[user.id], **window)["busy"][user.id])

    assert busy_of(alice) == busy
    assert eventually(lambda: busy_of(bob) == busy)
    assert eventually(lambda: event_id in inbox_ids(bob))
    assert eventually(lambda: event_id in event_ids(window_items(bob, **window)))

    deleted = alice.delete(f"/v1/events/{event_id}")
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""

    cancelled = get_event(alice, event_id)
    assert cancelled["status"] == "cancelled"
    assert cancelled["version"] == 2
    assert window_items(alice, **window) == []
    assert busy_of(alice) == []

    assert eventually(lambda: bob.get(f"/v1/events/{event_id}").json().get("status")
                      == "cancelled")
    assert eventually(lambda: window_items(bob, **window) == [])
    assert eventually(lambda: event_id not in inbox_ids(bob))
    assert eventually(lambda: busy_of(bob) == [])
    assert window_items(bob, **window, include_declined="true") == []

    # A cancelled event can no longer be edited or answered.
    edit = alice.patch(f"/v1/events/{event_id}", json={"version": 2, "title": "Back"})
    assert edit.status_code in (409, 410, 422), edit.text
    assert get_event(alice, event_id)["title"] == "Doomed"
    rsvp = bob.patch(f"/v1/invitations/{event_id}/rsvp", json={"status": "yes"})
    assert rsvp.status_code in (404, 409, 410), rsvp.text


def test_delete_permissions_and_preconditions(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    mallory = api.sign_up("UTC")
    event = alice.create_event(guests=[bob.id])
    path = f"/v1/events/{event['event_id']}"
    assert eventually(lambda: visible(bob, event["event_id"]))

    assert_problem(bob.delete(path), 403)
    assert_problem(mallory.delete(path), 404)
    assert_problem(alice.delete(f"/v1/events/{uuid.uuid4()}"), 404)
    assert_problem(alice.delete("/v1/events/garbage"), 404)
    stale = alice.delete(path, headers={"If-Match": '"7"'})
    assert assert_problem(stale, 409)["current_version"] == 1
    assert get_event(alice, event["event_id"])["status"] == "confirmed"

    assert alice.delete(path, headers={"If-Match": '"1"'}).status_code == 204
    assert get_event(alice, event["event_id"])["status"] == "cancelled"


# -- history ----------------------------------------------------------------------------


def test_history_lists_every_change_oldest_first(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    mallory = api.sign_up("UTC")
    event = alice.create_event(title="Draft")
    event_id = event["event_id"]
    path = f"/v1/events/{event_id}"
    assert alice.patch(path, json={"version": 1, "title": "Final"}).status_code == 200
    assert alice.patch(path, json={"version": 2, "guests": [bob.email]}).status_code == 200
    assert alice.delete(path).status_code == 204

    response = alice.get(f"{path}/history")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["version"] for i in items] == [1, 2, 3, 4]
    assert [i["type"] for i in items] == ["created", "updated", "updated", "cancelled"]
    assert {i["by"] for i in items} == {alice.id}
    stamps = [datetime.fromisoformat(i["at"].replace("Z", "+00:00")) for i in items]
    assert stamps == sorted(stamps)
    assert items[0]["changes"]["title"] == "Draft"
    assert items[1]["changes"] == {"title": "Final"}
    assert bob.id in str(items[2]["changes"])
    assert "title" not in items[2]["changes"]

    assert_problem(mallory.get(f"{path}/history"), 404)
    assert_problem(alice.get(f"/v1/events/{uuid.uuid4()}/history"), 404)


# -- all-day events across zones --------------------------------------------------------


def test_all_day_event_keeps_its_date_for_every_viewer(api: Api) -> None:
    organizer = api.sign_up("Europe/Berlin")
    kiwi = api.sign_up("Pacific/Auckland")
    angeleno = api.sign_up("America/Los_Angeles")
    event = organizer.create_event(title="Christmas Eve", all_day=True, start="2026-12-24",
                                   end="2026-12-25", guests=[kiwi.email, angeleno.email])
    event_id = event["event_id"]
    assert (event["start"], event["end"]) == ("2026-12-24", "2026-12-25")

    def on(user: User, day: str, **params: Any) -> list[tuple[str, str, str]]:
        return [(i["event_id"], i["start"], i["end"])
                for i in view_items(user, view="day", date=day, **params)]

    expected = [(event_id, "2026-12-24", "2026-12-25")]
    assert on(organizer, "2026-12-24") == expected
    for viewer in (kiwi, angeleno):
        assert eventually(lambda v=viewer: on(v, "2026-12-24")) == expected
        assert on(viewer, "2026-12-23") == []
        assert on(viewer, "2026-12-25") == []
        assert on(viewer, "2026-12-24", tz="Asia/Tokyo") == expected
        assert get_event(viewer, event_id)["start"] == "2026-12-24"
    assert on(organizer, "2026-12-23") == []
    assert on(organizer, "2026-12-25") == []
    [item] = view_items(kiwi, view="day", date="2026-12-24")
    assert item["all_day"] is True


def test_reinvited_guest_gets_a_fresh_pending_invitation(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    event = alice.create_event(title="Retry", start="2026-12-02T10:00:00Z",
                               end="2026-12-02T11:00:00Z", guests=[bob.id])
    event_id = event["event_id"]
    path = f"/v1/events/{event_id}"
    assert eventually(lambda: event_id in inbox_ids(bob))
    assert bob.patch(f"/v1/invitations/{event_id}/rsvp",
                     json={"status": "no"}).status_code == 200
    assert alice.patch(path, json={"version": 1, "guests": []}).status_code == 200
    assert eventually(lambda: event_id not in inbox_ids(bob))

    again = alice.patch(path, json={"version": 2, "guests": [bob.id]})
    assert again.status_code == 200, again.text
    # A new invitation: pending again, not the answer to the withdrawn one.
    assert again.json()["guests"] == [{"user_id": bob.id, "email": bob.email,
                                       "rsvp_status": "pending"}]
    assert eventually(lambda: event_id in inbox_ids(bob))
    assert eventually(lambda: [i["rsvp_status"] for i in inbox(bob)] == ["pending"]), inbox(bob)
    assert eventually(lambda: event_id in event_ids(view_items(bob, view="day",
                                                               date="2026-12-02")))
    assert [g["rsvp_status"] for g in get_event(alice, event_id)["guests"]] == ["pending"]


def test_switching_a_timed_event_to_all_day_needs_valid_dates(api: Api) -> None:
    alice = api.sign_up("UTC")
    event = alice.create_event(title="Timed", start="2026-12-20T10:00:00Z",
                               end="2026-12-20T11:00:00Z")
    path = f"/v1/events/{event['event_id']}"
    response = alice.patch(path, json={"version": 1, "all_day": True})
    if response.status_code == 200:
        body = response.json()
        # Accepted: then it must be a proper all-day event, ending after it starts.
        assert body["all_day"] is True
        assert body["end"] > body["start"], body
    else:
        assert_problem(response, 422)
        after = get_event(alice, event["event_id"])
        assert (after["all_day"], after["start"], after["version"]) == (
            False, "2026-12-20T10:00:00Z", 1)
    converted = alice.patch(path, json={"version": get_event(alice, event["event_id"])[
        "version"], "all_day": True, "start": "2026-12-21", "end": "2026-12-22"})
    assert converted.status_code == 200, converted.text
    assert (converted.json()["start"], converted.json()["end"]) == ("2026-12-21", "2026-12-22")
