"""The calendar view, invitations and availability (api-contract.md: Calendar view,
Invitations, Availability)."""

from __future__ import annotations

import uuid
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
    view,
    view_items,
    visible,
    window_items,
)

# -- windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "date", "week_start", "start", "end"), [
    ("day", "2026-11-24", "monday", "2026-11-24T05:00:00Z", "2026-11-25T05:00:00Z"),
    ("day", "2026-11-01", "monday", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"),
    ("week", "2026-11-26", "monday", "2026-11-23T05:00:00Z", "2026-11-30T05:00:00Z"),
    ("week", "2026-11-26", "sunday", "2026-11-22T05:00:00Z", "2026-11-29T05:00:00Z"),
    ("week", "2026-11-22", "monday", "2026-11-16T05:00:00Z", "2026-11-23T05:00:00Z"),
    ("week", "2026-11-22", "sunday", "2026-11-22T05:00:00Z", "2026-11-29T05:00:00Z"),
    ("week", "2026-11-23", "monday", "2026-11-23T05:00:00Z", "2026-11-30T05:00:00Z"),
    ("week", "2026-11-01", "monday", "2026-10-26T04:00:00Z", "2026-11-02T05:00:00Z"),
    ("week", "2026-11-01", "sunday", "2026-11-01T04:00:00Z", "2026-11-08T05:00:00Z"),
    ("month", "2026-11-15", "monday", "2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z"),
    ("month", "2026-12-31", "sunday", "2026-12-01T05:00:00Z", "2027-01-01T05:00:00Z"),
    ("month", "2028-02-10", "monday", "2028-02-01T05:00:00Z", "2028-03-01T05:00:00Z"),
])
def test_view_window_is_computed_in_the_callers_zone(
        api: Api, kind: str, date: str, week_start: str, start: str, end: str) -> None:
    user = api.sign_up("America/New_York", week_start=week_start)
    body = view(user, view=kind, date=date)
    assert (body["start"], body["end"]) == (start, end)
    assert body["timezone"] == "America/New_York"
    assert body["items"] == []


def test_week_start_decides_which_sunday_is_in_the_week(api: Api) -> None:
    monday_user = api.sign_up("America/New_York", week_start="monday")
    sunday_user = api.sign_up("America/New_York", week_start="sunday")
    found: dict[str, dict[str, str]] = {}
    for user in (monday_user, sunday_user):
        found[user.id] = {
            "early": user.create_event(title="Sunday 22", start="2026-11-22T12:00:00Z",
                                       end="2026-11-22T13:00:00Z")["event_id"],
            "late": user.create_event(title="Sunday 29", start="2026-11-29T12:00:00Z",
                                      end="2026-11-29T13:00:00Z")["event_id"]}
    assert event_ids(view_items(monday_user, view="week", date="2026-11-26")) == [
        found[monday_user.id]["late"]]
    assert event_ids(view_items(sunday_user, view="week", date="2026-11-26")) == [
        found[sunday_user.id]["early"]]


def test_tz_renders_the_view_in_another_zone(api: Api) -> None:
    user = api.sign_up("America/New_York")
    event = user.create_event(title="Late call", start="2026-11-25T20:00:00-05:00",
                              end="2026-11-25T21:00:00-05:00")
    body = view(user, view="week", date="2026-11-26", tz="Europe/Paris")
    assert (body["start"], body["end"]) == ("2026-11-23T06:00:00+01:00",
                                            "2026-11-30T06:00:00+01:00")
    assert body["timezone"] == "Europe/Paris"
    [item] = body["items"]
    assert item["event_id"] == event["event_id"]
    assert (item["start"], item["end"]) == ("2026-11-26T02:00:00+01:00",
                                            "2026-11-26T03:00:00+01:00")
    # The window is still the caller's own week; only the rendering changes.
    utc = view(user, view="week", date="2026-11-26")
    assert (utc["start"], utc["end"]) == ("2026-11-23T05:00:00Z", "2026-11-30T05:00:00Z")
    assert utc["items"][0]["start"] == "2026-11-26T01:00:00Z"
    tokyo = view(user, start="2026-11-26T00:00:00Z", end="2026-11-27T00:00:00Z",
                 tz="Asia/Tokyo")
    assert (tokyo["start"], tokyo["end"]) == ("2026-11-26T09:00:00+09:00",
                                              "2026-11-27T09:00:00+09:00")
    assert tokyo["items"][0]["start"] == "2026-11-26T10:00:00+09:00"
    single = user.get(f"/v1/events/{event['event_id']}", params={"tz": "Asia/Tokyo"}).json()
    assert single["start"] == "2026-11-26T10:00:00+09:00"


def test_explicit_window_membership_and_order(api: Api) -> None:
    user = api.sign_up("UTC")
    later = user.create_event(title="B", start="2026-12-10T10:00:00Z",
                              end="2026-12-10T11:00:00Z")
    first = user.create_event(title="A", start="2026-12-10T09:00:00Z",
                              end="2026-12-10T10:00:00Z")
    tied = user.create_event(title="C", start="2026-12-10T09:00:00Z",
                             end="2026-12-10T09:30:00Z")
    body = view(user, start="2026-12-10T03:00:00-05:00", end="2026-12-10T12:00:00Z")
    assert (body["start"], body["end"]) == ("2026-12-10T08:00:00Z", "2026-12-10T12:00:00Z")
    tie = sorted([first["event_id"], tied["event_id"]])
    assert event_ids(body["items"]) == [*tie, later["event_id"]]

    def ids(start: str, end: str) -> list[str]:
        return event_ids(window_items(user, start, end))

    # start < window_end and end > window_start.
    assert ids("2026-12-10T11:00:00Z", "2026-12-10T12:00:00Z") == []
    assert ids("2026-12-10T08:00:00Z", "2026-12-10T09:00:00Z") == []
    assert ids("2026-12-10T10:59:00Z", "2026-12-10T11:30:00Z") == [later["event_id"]]
    assert ids("2026-12-10T09:29:59Z", "2026-12-10T09:30:00Z") == tie


@pytest.mark.parametrize("params", [
    {"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
    {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
    {"start": "2026-01-01T00:00:00Z", "end": "2027-01-03T00:00:00Z"},
    {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z", "tz": "Mars/Base"},
    {"view": "week", "date": "2026-11-01", "tz": "Not/AZone"},
    {"start": "2026-11-01T00:00:00", "end": "2026-11-02T00:00:00Z"},
    {"start": "2026-11-01T00:00:00Z"},
    {"view": "week"},
    {"view": "year", "date": "2026-11-01"},
    {"view": "day", "date": "2026-13-01"},
    {},
])
def test_invalid_view_queries_are_422(api: Api, params: dict[str, str]) -> None:
    user = api.sign_up("UTC")
    body = assert_problem(user.get("/v1/calendar/view", params=params), 422)
    assert_validation_errors(body)


def test_a_366_day_window_is_allowed(api: Api) -> None:
    user = api.sign_up("UTC")
    event = user.create_event(start="2027-06-01T09:00:00Z", end="2027-06-01T10:00:00Z")
    body = view(user, start="2026-12-31T00:00:00Z", end="2028-01-01T00:00:00Z")
    assert event_ids(body["items"]) == [event["event_id"]]


# -- invitations and RSVPs --------------------------------------------------------------


def test_declined_invitations_are_hidden_unless_asked_for(api: Api) -> None:
    organizer = api.sign_up("UTC")
    guest = api.sign_up("UTC")
    declined = organizer.create_event(title="Declined", start="2026-12-03T10:00:00Z",
                                      end="2026-12-03T11:00:00Z", guests=[guest.email])
    kept = organizer.create_event(title="Kept", start="2026-12-03T14:00:00Z",
                                  end="2026-12-03T15:00:00Z", guests=[guest.email])
    both = sorted([declined["event_id"], kept["event_id"]])

    def day(**params: Any) -> list[tuple[str, str]]:
        return [(i["title"], i["rsvp_status"])
                for i in view_items(guest, view="day", date="2026-12-03", **params)]

    assert eventually(lambda: day() == [("Declined", "pending"), ("Kept", "pending")])
    assert eventually(lambda: sorted(i["event_id"] for i in inbox(guest)) == both)

    answer = guest.patch(f"/v1/invitations/{declined['event_id']}/rsvp", json={"status": "no"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["event_id"] == declined["event_id"]
    assert body["guest_id"] == guest.id
    assert body["rsvp_status"] == "no"
    assert isinstance(body["updated_at"], str) and body["updated_at"]

    # Read-your-own-writes for the guest's own answer.
    assert day() == [("Kept", "pending")]
    assert day(include_declined="true") == [("Declined", "no"), ("Kept", "pending")]
    assert day(include_declined="false") == [("Kept", "pending")]

    maybe = guest.patch(f"/v1/invitations/{kept['event_id']}/rsvp", json={"status": "maybe"})
    assert maybe.status_code == 200, maybe.text
    assert day() == [("Kept", "maybe")]

    # Changing one's mind brings it back.
    again = guest.patch(f"/v1/invitations/{declined['event_id']}/rsvp",
                        json={"status": "yes"})
    assert again.status_code == 200, again.text
    assert day() == [("Declined", "yes"), ("Kept", "maybe")]
    # The organizer sees the answers eventually, and never sees rsvp "no" hide the event.

    def organizer_copy() -> list[str]:
        return [g["rsvp_status"] for e in (declined, kept)
                for g in organizer.get(f"/v1/events/{e['event_id']}").json()["guests"]]

    assert eventually(lambda: organizer_copy() == ["yes", "maybe"])
    assert [i["rsvp_status"] for i in view_items(organizer, view="day", date="2026-12-03")
            ] == ["organizer", "organizer"]


def test_invitations_inbox_filters_by_status(api: Api) -> None:
    organizer = api.sign_up("UTC")
    guest = api.sign_up("America/Los_Angeles")
    first = organizer.create_event(title="First", start="2026-12-04T10:00:00Z",
                                   end="2026-12-04T11:00:00Z", guests=[guest.id])
    second = organizer.create_event(title="Second", start="2026-12-05T10:00:00Z",
                                    end="2026-12-05T11:00:00Z", guests=[guest.id])
    assert eventually(lambda: len(inbox(guest)) == 2)
    items = inbox(guest)
    assert [i["event_id"] for i in items] == [first["event_id"], second["event_id"]]
    assert set(items[0]) == {"event_id", "organizer_id", "title", "start", "end",
                             "rsvp_status", "invited_at"}
    assert (items[0]["title"], items[0]["organizer_id"], items[0]["start"], items[0]["end"],
            items[0]["rsvp_status"]) == ("First", organizer.id, "2026-12-04T10:00:00Z",
                                         "2026-12-04T11:00:00Z", "pending")
    assert guest.patch(f"/v1/invitations/{second['event_id']}/rsvp",
                       json={"status": "yes"}).status_code == 200

    def ids(status: str) -> list[str]:
        return [i["event_id"] for i in inbox(guest, status=status)]

    assert ids("pending") == [first["event_id"]]
    assert ids("yes") == [second["event_id"]]
    assert ids("no") == []
    assert ids("maybe") == []
    assert [i["rsvp_status"] for i in inbox(guest)] == ["pending", "yes"]
    assert inbox(organizer) == []
    assert_problem(guest.get("/v1/invitations", params={"status": "declined"}), 422)


def test_rsvp_errors(api: Api) -> None:
    organizer = api.sign_up("UTC")
    guest = api.sign_up("UTC")
    stranger = api.sign_up("UTC")
    event = organizer.create_event(guests=[guest.email])
    path = f"/v1/invitations/{event['event_id']}/rsvp"
    assert eventually(lambda: visible(guest, event["event_id"]))

    assert_problem(stranger.patch(path, json={"status": "yes"}), 404)
    assert_problem(organizer.patch(path, json={"status": "yes"}), 404)
    assert_problem(guest.patch(f"/v1/invitations/{uuid.uuid4()}/rsvp",
                               json={"status": "yes"}), 404)
    assert_problem(guest.patch("/v1/invitations/garbage/rsvp", json={"status": "yes"}), 404)
    for body in ({"status": "perhaps"}, {"status": "pending"}, {}, {"status": "yes", "x": 1},
                 {"status": None}):
        problem = assert_problem(guest.patch(path, json=body), 422)
        assert_validation_errors(problem)
    assert_problem(api.http.patch(path, json={"status": "yes"}), 401)
    # None of it changed anything.
    assert [i["rsvp_status"] for i in inbox(guest)] == ["pending"]


# -- availability -----------------------------------------------------------------------

WINDOW = {"start": "2026-12-01T08:30:00Z", "end": "2026-12-01T18:00:00Z"}


def at(start: str, end: str) -> dict[str, str]:
    return {"start": f"2026-12-01T{start}:00Z", "end": f"2026-12-01T{end}:00Z"}


def make(user: User, start: str, end: str, **fields: Any) -> dict[str, Any]:
    return user.create_event(**{"title": "Secret merger talks", "location": "Vault 7",
                                **at(start, end), **fields})


def test_availability_busy_free_and_suggestions(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    carol = api.sign_up("UTC")
    dave = api.sign_up("UTC")
    for start, end in [("07:00", "08:45"), ("09:00", "10:00"), ("10:00", "10:30"),
                       ("10:15", "11:00"), ("12:05", "12:20")]:
        make(alice, start, end)
    alice.create_event(title="Evening", start="2026-12-01T17:30:00Z",
                       end="2026-12-01T19:00:00Z")
    make(bob, "13:00", "14:00")
    make(bob, "15:00", "16:00", transparency="transparent")
    gone = make(bob, "14:30", "15:00")
    assert bob.delete(f"/v1/events/{gone['event_id']}").status_code == 204
    declined = make(carol, "16:00", "16:30", guests=[bob.id])
    make(carol, "16:30", "16:45", guests=[bob.id])
    assert eventually(lambda: visible(bob, declined["event_id"]))
    assert bob.patch(f"/v1/invitations/{declined['event_id']}/rsvp",
                     json={"status": "no"}).status_code == 200

    alice_busy = [at("08:30", "08:45"), at("09:00", "11:00"), at("12:00", "12:30"),
                  at("17:30", "18:00")]
    bob_busy = [at("13:00", "14:00"), at("16:30", "16:45")]
    # Alice's own busy time is read-your-own-writes.
    assert availability(alice, user_ids=[alice.id], **WINDOW)["busy"] == {
        alice.id: alice_busy}

    query = {"user_ids": [alice.id, bob.id], **WINDOW}
    found = eventually(lambda: (lambda b: b if b["busy"] == {alice.id: alice_busy,
                                                             bob.id: bob_busy} else None)(
        availability(dave, **query)))
    assert found, availability(dave, **query)
    assert (found["start"], found["end"]) == (WINDOW["start"], WINDOW["end"])
    assert found["slot_minutes"] == 15
    assert found["free"] == [at("08:45", "09:00"), at("11:00", "12:00"), at("12:30", "13:00"),
                             at("14:00", "16:30"), at("16:45", "17:30")]
    assert found["suggestions"] == [
        at("11:00", "11:30"), at("11:30", "12:00"), at("12:30", "13:00"), at("14:00", "14:30"),
        at("14:30", "15:00"), at("15:00", "15:30"), at("15:30", "16:00"), at("16:00", "16:30"),
        at("16:45", "17:15")]
    assert set(found) == {"start", "end", "slot_minutes", "busy", "free", "suggestions"}

    # Only times, never titles or places.
    raw = dave.post("/v1/availability", json=query).text
    for secret in ("Secret merger talks", "Vault 7", "Evening"):
        assert secret not in raw

    hour = availability(dave, duration_minutes=60, **query)
    assert hour["suggestions"] == [at("11:00", "12:00"), at("14:00", "15:00"),
                                   at("15:00", "16:00")]
    few = availability(dave, max_suggestions=3, **query)
    assert few["suggestions"] == [at("11:00", "11:30"), at("11:30", "12:00"),
                                  at("12:30", "13:00")]
    none = availability(dave, max_suggestions=0, **query)
    assert none["suggestions"] == []
    assert none["free"] == found["free"]

    # A user with nothing on is present with no busy time; duplicates are fine.
    empty = availability(alice, user_ids=[dave.id, dave.id], **WINDOW)
    assert empty["busy"] == {dave.id: []}
    assert empty["free"] == [WINDOW]


def test_all_day_events_are_busy_only_when_opaque(api: Api) -> None:
    user = api.sign_up("UTC")
    user.create_event(title="Holiday", all_day=True, start="2026-12-02", end="2026-12-03")
    window = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-05T00:00:00Z"}
    assert availability(user, user_ids=[user.id], **window)["busy"][user.id] == []
    user.create_event(title="Conference", all_day=True, start="2026-12-03", end="2026-12-05",
                      transparency="opaque")
    assert availability(user, user_ids=[user.id], **window)["busy"][user.id] == [
        {"start": "2026-12-03T00:00:00Z", "end": "2026-12-05T00:00:00Z"}]


def test_working_hours_only_respects_each_users_hours_in_their_zone(api: Api) -> None:
    new_york = api.sign_up("America/New_York")
    berlin = api.sign_up("Europe/Berlin")
    weekend = api.sign_up("UTC", working_hours={"start": "10:00", "end": "12:00", "days": [6]})
    kiwi = api.sign_up("Pacific/Auckland",
                       working_hours={"start": "09:00", "end": "17:00", "days": [1]})
    tuesday = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}
    saturday = {"start": "2026-12-05T00:00:00Z", "end": "2026-12-06T00:00:00Z"}

    def suggest(user: User, ids: list[str], window: dict[str, str],
                **extra: Any) -> list[dict[str, str]]:
        return list(availability(user, user_ids=ids, duration_minutes=60,
                                 working_hours_only=True, **window, **extra)["suggestions"])

    both = [new_york.id, berlin.id]
    assert suggest(new_york, both, tuesday) == [
        {"start": "2026-12-01T14:00:00Z", "end": "2026-12-01T15:00:00Z"},
        {"start": "2026-12-01T15:00:00Z", "end": "2026-12-01T16:00:00Z"}]
    new_york.create_event(start="2026-12-01T09:00:00-05:00", end="2026-12-01T09:30:00-05:00")
    assert suggest(new_york, both, tuesday) == [
        {"start": "2026-12-01T14:30:00Z", "end": "2026-12-01T15:30:00Z"}]
    assert suggest(new_york, both, saturday) == []
    assert suggest(weekend, [weekend.id], saturday) == [
        {"start": "2026-12-05T10:00:00Z", "end": "2026-12-05T11:00:00Z"},
        {"start": "2026-12-05T11:00:00Z", "end": "2026-12-05T12:00:00Z"}]
    assert suggest(weekend, [weekend.id], tuesday) == []
    assert suggest(weekend, [weekend.id, berlin.id], saturday) == []
    # Monday 09:00-17:00 in Auckland (UTC+13) is Sunday 20:00Z to Monday 04:00Z.
    assert suggest(kiwi, [kiwi.id], {"start": "2026-11-29T00:00:00Z",
                                     "end": "2026-12-01T00:00:00Z"}, max_suggestions=20) == [
        {"start": f"2026-11-{d}T{h:02d}:00:00Z", "end": f"2026-11-{d2}T{(h + 1) % 24:02d}:00:00Z"}
        for d, h, d2 in [("29", 20, "29"), ("29", 21, "29"), ("29", 22, "29"),
                         ("29", 23, "30"), ("30", 0, "30"), ("30", 1, "30"), ("30", 2, "30"),
                         ("30", 3, "30")]]
    # Without working_hours_only the scan starts at the window start.
    anytime = availability(new_york, user_ids=both, duration_minutes=60, **tuesday)
    assert anytime["suggestions"][0] == {"start": "2026-12-01T00:00:00Z",
                                         "end": "2026-12-01T01:00:00Z"}
    # Changing one's working hours takes effect on the next query.
    changed = weekend.patch("/v1/users/me", json={"working_hours": {
        "start": "13:00", "end": "14:00", "days": [6]}})
    assert changed.status_code == 200, changed.text
    assert suggest(weekend, [weekend.id], saturday) == [
        {"start": "2026-12-05T13:00:00Z", "end": "2026-12-05T14:00:00Z"}]


def test_availability_validation(api: Api) -> None:
    user = api.sign_up("UTC")
    ghost = str(uuid.uuid4())
    response = user.post("/v1/availability", json={"user_ids": [user.id, ghost], **WINDOW})
    body = assert_problem(response, 422)
    assert ghost in response.text
    assert user.id not in body["detail"]

    for query in (
        {"user_ids": [str(uuid.uuid4()) for _ in range(1001)], **WINDOW},
        {"user_ids": [], **WINDOW},
        {"user_ids": ["not-a-user-id"], **WINDOW},
        {"user_ids": [user.id], "start": "2026-01-01T00:00:00Z", "end": "2027-01-03T00:00:00Z"},
        {"user_ids": [user.id], "start": WINDOW["end"], "end": WINDOW["start"]},
        {"user_ids": [user.id], "start": WINDOW["start"], "end": WINDOW["start"]},
        {"user_ids": [user.id], "start": "2026-12-01T08:30:00", "end": WINDOW["end"]},
        {"user_ids": [user.id], **WINDOW, "duration_minutes": 0},
        {"user_ids": [user.id], **WINDOW, "colour": "red"},
        {"user_ids": [user.id]},
    ):
        problem = assert_problem(user.post("/v1/availability", json=query), 422)
        assert_validation_errors(problem)

    year = availability(user, user_ids=[user.id], start="2026-12-31T00:00:00Z",
                        end="2028-01-01T00:00:00Z", max_suggestions=1)
    assert year["free"] == [{"start": "2026-12-31T00:00:00Z", "end": "2028-01-01T00:00:00Z"}]
    assert_problem(api.http.post("/v1/availability", json={"user_ids": [user.id], **WINDOW}),
                   401)


def test_availability_with_a_thousand_users_is_allowed(api: Api) -> None:
    users = [api.sign_up("UTC") for _ in range(3)]
    ids = [u.id for u in users] * 334  # 1002 entries, 3 distinct users
    assert_problem(users[0].post("/v1/availability", json={"user_ids": ids, **WINDOW}), 422)
    body = availability(users[0], user_ids=ids[:1000], **WINDOW)
    assert set(body["busy"]) == {u.id for u in users}
