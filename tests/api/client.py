"""A thin test client over real HTTP: sign-up helpers and authorised requests."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from infra.app import create_app
from infra.bootstrap import embedded
from infra.settings import Settings

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


class ServerThread:
    """The app served by uvicorn on a free loopback port, in a thread: real HTTP."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def embedded_server(data_dir: Path, **settings: Any) -> ServerThread:
    """The embedded default on a SQLite data dir of the test's own."""
    return ServerThread(create_app(embedded(Settings(data_dir=data_dir, **settings))))
