"""Idempotency-Key on writes (api-contract.md: General)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.client import Api, User, embedded_server
from tests.api.support import assert_problem, view_items, window_items

EVENT = {"title": "Once only", "start": "2026-12-08T09:00:00Z", "end": "2026-12-08T10:00:00Z"}


def key() -> str:
    return f"key-{uuid.uuid4()}"


def create(user: User, idempotency_key: str, body: dict[str, Any] | None = None) -> Any:
    return user.post("/v1/events", json=body or EVENT,
                     headers={"Idempotency-Key": idempotency_key})


def titles_on(user: User, date: str) -> list[str]:
    return [i["title"] for i in view_items(user, view="day", date=date)]


def test_same_key_same_body_replays_the_first_response(api: Api) -> None:
    alice = api.sign_up("UTC")
    k = key()
    first = create(alice, k)
    assert first.status_code == 201, first.text
    second = create(alice, k)
    assert second.status_code == 201, second.text
    assert second.content == first.content
    assert second.json()["event_id"] == first.json()["event_id"]
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["etag"] == first.headers["etag"] == '"1"'
    third = create(alice, k)
    assert third.content == first.content
    assert titles_on(alice, "2026-12-08") == ["Once only"]


def test_same_key_different_body_is_422(api: Api) -> None:
    alice = api.sign_up("UTC")
    k = key()
    assert create(alice, k).status_code == 201
    other = create(alice, k, {**EVENT, "title": "Something else"})
    assert_problem(other, 422)
    assert titles_on(alice, "2026-12-08") == ["Once only"]
    # The same body on another path is a different request too.
    moved = alice.patch("/v1/users/me", json=EVENT, headers={"Idempotency-Key": k})
    assert moved.status_code == 422, moved.text


def test_key_length_limits(api: Api) -> None:
    alice = api.sign_up("UTC")
    assert_problem(create(alice, "k" * 256), 422)
    assert titles_on(alice, "2026-12-08") == []
    longest = create(alice, "k" * 255)
    assert longest.status_code == 201, longest.text
    shortest = create(alice, "k", {**EVENT, "title": "Short key"})
    assert shortest.status_code == 201, shortest.text
    assert sorted(titles_on(alice, "2026-12-08")) == ["Once only", "Short key"]
    assert create(alice, "k" * 255).content == longest.content
    assert sorted(titles_on(alice, "2026-12-08")) == ["Once only", "Short key"]


def test_keys_are_per_user(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    k = key()
    mine = create(alice, k)
    theirs = create(bob, k)
    assert mine.status_code == theirs.status_code == 201, theirs.text
    assert theirs.json()["event_id"] != mine.json()["event_id"]
    assert theirs.json()["organizer_id"] == bob.id
    assert mine.json()["organizer_id"] == alice.id
    assert titles_on(bob, "2026-12-08") == ["Once only"]
    assert titles_on(alice, "2026-12-08") == ["Once only"]
    assert [i["event_id"] for i in view_items(bob, view="day", date="2026-12-08")] == [
        theirs.json()["event_id"]]
    # Bob's key with another body does not collide with Alice's either.
    other = create(bob, key(), {**EVENT, "title": "Bob's own"})
    assert other.status_code == 201
    assert sorted(titles_on(bob, "2026-12-08")) == ["Bob's own", "Once only"]


def test_a_replayed_patch_is_applied_once(api: Api) -> None:
    alice = api.sign_up("UTC")
    event = alice.create_event(title="Before", start="2026-12-09T09:00:00Z",
                               end="2026-12-09T10:00:00Z")
    path = f"/v1/events/{event['event_id']}"
    k = key()
    first = alice.patch(path, json={"version": 1, "title": "After"},
                        headers={"Idempotency-Key": k})
    assert first.status_code == 200, first.text
    again = alice.patch(path, json={"version": 1, "title": "After"},
                        headers={"Idempotency-Key": k})
    assert again.status_code == 200, again.text
    assert again.content == first.content
    assert again.headers["etag"] == '"2"'
    current = alice.get(path).json()
    assert (current["version"], current["title"]) == (2, "After")
    history = alice.get(f"{path}/history").json()["items"]
    assert [i["version"] for i in history] == [1, 2]


def test_a_replayed_error_stays_an_error(api: Api) -> None:
    alice = api.sign_up("UTC")
    k = key()
    bad = {**EVENT, "end": EVENT["start"]}
    first = create(alice, k, bad)
    assert_problem(first, 422)
    second = create(alice, k, bad)
    assert second.status_code == 422
    assert second.json() == first.json()
    assert titles_on(alice, "2026-12-08") == []


def test_a_replayed_delete_and_rsvp(api: Api) -> None:
    alice = api.sign_up("UTC")
    bob = api.sign_up("UTC")
    event = alice.create_event(title="Gone", start="2026-12-10T09:00:00Z",
                               end="2026-12-10T10:00:00Z", guests=[bob.email])
    path = f"/v1/events/{event['event_id']}"
    answer = f"/v1/invitations/{event['event_id']}/rsvp"
    k = key()
    first = bob.patch(answer, json={"status": "maybe"}, headers={"Idempotency-Key": k})
    assert first.status_code == 200, first.text
    again = bob.patch(answer, json={"status": "maybe"}, headers={"Idempotency-Key": k})
    assert again.status_code == 200
    assert again.content == first.content

    k = key()
    assert alice.delete(path, headers={"Idempotency-Key": k}).status_code == 204
    replay = alice.delete(path, headers={"Idempotency-Key": k})
    assert replay.status_code == 204, replay.text
    history = alice.get(f"{path}/history").json()["items"]
    assert [i["type"] for i in history] == ["created", "cancelled"]
    assert window_items(alice, "2026-12-10T00:00:00Z", "2026-12-11T00:00:00Z") == []


def test_empty_key_is_422(api: Api) -> None:
    alice = api.sign_up("UTC")
    response = alice.post("/v1/events", json=EVENT, headers={"Idempotency-Key": ""})
    assert_problem(response, 422)
    assert titles_on(alice, "2026-12-08") == []


@pytest.fixture(scope="module")
def unlimited_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One user's 1,000 back-to-back requests are beyond the default rate limit."""
    server = embedded_server(tmp_path_factory.mktemp("data"), rate_limit_per_second=0)
    with server as base_url, Api(base_url) as client:
        yield client


def test_an_immediate_retry_always_gets_the_stored_response(unlimited_api: Api) -> None:
    """A client that retries as soon as it has the first answer must get that answer back,
    never a 409 'in progress': the response may only leave once it is stored."""
    alice = unlimited_api.sign_up("UTC")
    outcomes: dict[tuple[int, int], int] = {}
    for n in range(500):
        k = key()
        body = {**EVENT, "title": f"Retry {n}", "start": "2026-12-11T09:00:00Z",
                "end": "2026-12-11T09:15:00Z"}
        first = create(alice, k, body)
        again = create(alice, k, body)
        pair = (first.status_code, again.status_code)
        outcomes[pair] = outcomes.get(pair, 0) + 1
    assert outcomes == {(201, 201): 500}
    assert len(view_items(alice, view="day", date="2026-12-11")) == 500
