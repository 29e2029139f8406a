"""A thin test client over real HTTP: sign-up helpers and authorised requests."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

_counter = itertools.count()


class User:
    def __init__(self, api: Api, body: dict[str, Any]) -> None:
        self.api = api
        self.id: str = body["user_id"]
        self.email: str = body["email"]
        self.token: str = body["token"]
        self.body = body

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.api.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def create_event(self, **fields: Any) -> dict[str, Any]:
        body = {"title": "Meeting", "start": "2026-11-24T09:00:00Z",
                "end": "2026-11-24T10:00:00Z", **fields}
        response = self.post("/v1/events", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


class Api:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def sign_up(self, timezone: str = "UTC", **fields: Any) -> User:
        email = fields.pop("email", f"user{next(_counter)}-{id(self)}@example.org")
        response = self.http.post("/v1/users", json={"email": email, "timezone": timezone,
                                                     **fields})
        assert response.status_code == 201, response.text
        return User(self, response.json())
