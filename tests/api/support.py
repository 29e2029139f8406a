"""Shared assertions and helpers for the HTTP API tests (api-contract.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.client import User

PROBLEM = "application/problem+json"
LEAKS = ("Traceback", 'File "', "sqlite", "SELECT ", "INSERT ", "pydantic", "eventsourcing",
         "Error:", "site-packages")


def eventually(probe: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Other users see changes eventually: poll until the probe returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with the given status, and nothing internal in it."""
    assert response.status_code == status, response.text
    content_type = response.headers.get("content-type", "")
    assert content_type.split(";")[0].strip() == PROBLEM, content_type
    body = response.json()
    assert isinstance(body, dict), body
    assert body["status"] == status, body
    for key in ("type", "title", "detail"):
        assert isinstance(body.get(key), str) and body[key], (key, body)
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text)
    return body


def assert_validation_errors(body: dict[str, Any], field: str | None = None) -> None:
    """`errors` is a list of {loc: [...], msg: "..."}, one of them about `field`."""
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    for error in errors:
        assert isinstance(error["loc"], list), error
        assert isinstance(error["msg"], str) and error["msg"], error
    if field is not None:
        assert any(field in [str(p) for p in e["loc"]] for e in errors), body


def view(user: User, **params: Any) -> dict[str, Any]:
    response = user.get("/v1/calendar/view", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def view_items(user: User, **params: Any) -> list[dict[str, Any]]:
    return list(view(user, **params)["items"])


def window_items(user: User, start: str, end: str, **params: Any) -> list[dict[str, Any]]:
    return view_items(user, start=start, end=end, **params)


def event_ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["event_id"] for i in items]


def inbox(user: User, **params: Any) -> list[dict[str, Any]]:
    response = user.get("/v1/invitations", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def inbox_ids(user: User, **params: Any) -> list[str]:
    return [i["event_id"] for i in inbox(user, **params)]


def availability(user: User, **body: Any) -> dict[str, Any]:
    response = user.post("/v1/availability", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def visible(user: User, event_id: str) -> bool:
    return user.get(f"/v1/events/{event_id}").status_code == 200


def instances(user: User, event_id: str, start: str, end: str,
              **params: Any) -> list[dict[str, Any]]:
    response = user.get(f"/v1/events/{event_id}/instances",
                        params={"start": start, "end": end, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def starts(items: list[dict[str, Any]]) -> list[str]:
    return [i["start"] for i in items]
