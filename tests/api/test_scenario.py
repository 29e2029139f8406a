"""The end-to-end scenario of the calendar service issue, over real HTTP."""

from __future__ import annotations

from tests.api.client import Api, User
from tests.api.support import eventually


def week_titles(user: User, date: str) -> list[tuple[str, str]]:
    response = user.get("/v1/calendar/view", params={"view": "week", "date": date})
    assert response.status_code == 200, response.text
    return [(i["title"], i["start"]) for i in response.json()["items"]]


def test_two_users_in_different_zones_share_a_weekly_meeting(api: Api) -> None:
    alice = api.sign_up("America/New_York", name="Alice")
    bob = api.sign_up("Europe/Berlin", name="Bob")

    event = alice.create_event(
        title="Weekly sync", start="2026-11-30T09:00:00-05:00",
        end="2026-11-30T10:00:00-05:00", rrule="FREQ=WEEKLY;BYDAY=MO", guests=[bob.email])
    event_id = event["event_id"]
    assert event["version"] == 1
    assert event["guests"] == [{"user_id": bob.id, "email": bob.email, "rsvp_status": "pending"}]

    # Read-your-own-writes for the organizer, eventual for the guest.
    assert week_titles(alice, "2026-12-02") == [("Weekly sync", "2026-11-30T14:00:00Z")]
    assert eventually(lambda: week_titles(bob, "2026-12-02")) == [
        ("Weekly sync", "2026-11-30T14:00:00Z")]

    answer = bob.patch(f"/v1/invitations/{event_id}/rsvp", json={"status": "yes"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rsvp_status"] == "yes"

    def bobs_answer() -> str | None:
        guests = alice.get(f"/v1/events/{event_id}").json()["guests"]
        return "yes" if guests[0]["rsvp_status"] == "yes" else None

    assert eventually(bobs_answer) == "yes"

    found = alice.post("/v1/availability", json={
        "user_ids": [alice.id, bob.id], "start": "2026-12-07T13:00:00Z",
        "end": "2026-12-07T17:00:00Z", "duration_minutes": 60})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["busy"][bob.id] == [{"start": "2026-12-07T14:00:00Z",
                                     "end": "2026-12-07T15:00:00Z"}]
    assert body["suggestions"][0] == {"start": "2026-12-07T13:00:00Z",
                                      "end": "2026-12-07T14:00:00Z"}
    assert body["suggestions"][1] == {"start": "2026-12-07T15:00:00Z",
                                      "end": "2026-12-07T16:00:00Z"}

    moved = alice.patch(f"/v1/events/{event_id}", json={"version": 1, "title": "Sync"})
    assert moved.status_code == 200 and moved.json()["version"] == 2
    stale = alice.patch(f"/v1/events/{event_id}", json={"version": 1, "title": "Stale"})
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2

    assert alice.delete(f"/v1/events/{event_id}").status_code == 204
    assert week_titles(alice, "2026-12-02") == []
    assert eventually(lambda: week_titles(bob, "2026-12-02") == []) is True
    assert alice.get(f"/v1/events/{event_id}").json()["status"] == "cancelled"
