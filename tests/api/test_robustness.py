"""Inputs at the edges of the representable calendar (years 1 and 9999) must be answered
with a 4xx problem, never a 500 or a dropped connection, and must not stall the
asynchronous pipeline for anyone else (api-contract.md: "A 500 is always a bug")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.api.client import Api, User, embedded_server
from tests.api.support import assert_problem, eventually, visible


@pytest.fixture
def fresh_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server of its own per test: one poisoned pipeline must not fail other tests."""
    with embedded_server(tmp_path_factory.mktemp("edge-data")) as base_url, \
            Api(base_url) as client:
        yield client


def answered(call: Callable[[], httpx.Response]) -> httpx.Response:
    try:
        return call()
    except httpx.TransportError as error:  # the server dropped the connection
        pytest.fail(f"no HTTP response at all: {type(error).__name__}: {error}")


def assert_not_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


@pytest.mark.parametrize("params", [
    {"view": "day", "date": "9999-12-31"},
    {"view": "month", "date": "9999-12-15"},
    {"view": "week", "date": "9999-12-31"},
    {"start": "0001-01-01T00:00:00+14:00", "end": "0001-01-02T00:00:00Z"},
    {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:00:00-12:00"},
    {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:00:00Z",
     "tz": "Pacific/Kiritimati"},
    {"start": "0001-01-01T00:00:00Z", "end": "0001-01-02T00:00:00Z",
     "tz": "America/Los_Angeles"},
])
def test_calendar_view_at_the_edges_of_time_is_not_a_server_error(
        fresh_api: Api, params: dict[str, str]) -> None:
    user = fresh_api.sign_up("UTC")
    assert_not_server_error(answered(lambda: user.get("/v1/calendar/view", params=params)))
    # The server still answers afterwards.
    assert user.get("/v1/users/me").status_code == 200


def test_sunday_week_containing_year_one_is_not_a_server_error(fresh_api: Api) -> None:
    user = fresh_api.sign_up("UTC", week_start="sunday")
    response = answered(lambda: user.get("/v1/calendar/view",
                                         params={"view": "week", "date": "0001-01-01"}))
    assert_not_server_error(response)


@pytest.mark.parametrize("window", [
    {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:59:00Z"},
    {"start": "0001-01-01T00:00:00Z", "end": "0001-01-02T00:00:00Z"},
])
def test_availability_at_the_edges_of_time_is_not_a_server_error(
        fresh_api: Api, window: dict[str, str]) -> None:
    user = fresh_api.sign_up("Pacific/Kiritimati")
    response = answered(lambda: user.post("/v1/availability", json={
        "user_ids": [user.id], "working_hours_only": True, **window}))
    assert_not_server_error(response)


@pytest.mark.parametrize("fields", [
    {"start": "0001-01-01T00:00:00+14:00", "end": "0001-01-01T01:00:00+14:00"},
    {"start": "9999-12-31T23:00:00-12:00", "end": "9999-12-31T23:30:00-12:00"},
    {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z", "rrule": "FREQ=DAILY",
     "exdates": ["0001-01-01T00:00:00+14:00"]},
    {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z", "rrule": "FREQ=DAILY",
     "rdates": ["9999-12-31T23:00:00-12:00"]},
])
def test_event_at_the_edges_of_time_is_not_a_server_error(
        fresh_api: Api, fields: dict[str, Any]) -> None:
    user = fresh_api.sign_up("UTC")
    response = answered(lambda: user.post("/v1/events", json={"title": "Edge", **fields}))
    assert_not_server_error(response)


@pytest.mark.parametrize("fields", [
    {"all_day": True, "start": "0001-01-01", "end": "0001-01-02"},
    {"all_day": True, "start": "9999-12-30", "end": "9999-12-31",
     "timezone": "Pacific/Kiritimati", "transparency": "opaque"},
    {"start": "9999-12-31T22:00:00Z", "end": "9999-12-31T23:00:00Z"},
    {"start": "0001-01-01T00:00:00Z", "end": "0001-01-01T01:00:00Z"},
])
def test_an_event_at_the_edges_of_time_does_not_stall_everyone_else(
        fresh_api: Api, fields: dict[str, Any]) -> None:
    mallory = fresh_api.sign_up("UTC")
    alice = fresh_api.sign_up("UTC")
    bob = fresh_api.sign_up("UTC")
    edge = answered(lambda: mallory.post("/v1/events", json={"title": "Edge", **fields}))
    assert_not_server_error(edge)

    event = alice.create_event(title="Ordinary", start="2026-12-01T10:00:00Z",
                               end="2026-12-01T11:00:00Z", guests=[bob.email])

    def alices_day() -> list[str]:
        response = alice.get("/v1/calendar/view", params={"view": "day", "date": "2026-12-01"})
        assert response.status_code == 200, response.text
        return [i["title"] for i in response.json()["items"]]

    def busy(user: User) -> Any:
        response = mallory.post("/v1/availability", json={
            "user_ids": [user.id], "start": "2026-12-01T00:00:00Z",
            "end": "2026-12-02T00:00:00Z"})
        assert response.status_code == 200, response.text
        return response.json()["busy"][user.id]

    # Read-your-own-writes for Alice; eventually for Bob and for Mallory's queries.
    assert alices_day() == ["Ordinary"]
    assert eventually(lambda: visible(bob, event["event_id"])), "Bob never saw the event"
    expected = [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"}]
    assert eventually(lambda: busy(bob) == expected), busy(bob)
    assert eventually(lambda: bob.get("/v1/invitations").json()["items"]), "no invitation"
