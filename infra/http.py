"""ASGI middleware in front of the routers: the 1 MiB body limit, the JSON content type
for writes, and Idempotency-Key replay. Pure ASGI so the body is read exactly once."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from infra.auth import InvalidTokenError, TokenIssuer
from infra.idempotency import (
    IdempotencyInFlightError,
    IdempotencyMismatchError,
    IdempotencyStore,
    StoredResponse,
    fingerprint,
)
from infra.problems import PROBLEM, UNAVAILABLE, problem_body
from infra.unavailable import DEPENDENCY_ERRORS, is_unavailable, retry_after

MAX_BODY = 1024 * 1024
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
log = logging.getLogger(__name__)
CALENDAR_UPLOADS = {"/v1/calendar/import"}
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class TooLargeError(Exception):
    pass


async def send_problem(send: Send, status: int, detail: str,
                       headers: dict[str, str] | None = None) -> None:
    body = json.dumps(problem_body(status, detail)).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM.encode()),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLargeError
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class WriteGuard:
    def __init__(self, app: App, tokens: TokenIssuer, store: IdempotencyStore) -> None:
        self.app = app
        self.tokens = tokens
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            return await self.app(scope, receive, send)
        length = header(scope, b"content-length")
        if length and length.isdigit() and int(length) > MAX_BODY:
            return await send_problem(send, 413, "the body is limited to 1 MiB")
        try:
            body = await read_body(receive)
        except TooLargeError:
            return await send_problem(send, 413, "the body is limited to 1 MiB")
        wanted = "text/calendar" if scope["path"] in CALENDAR_UPLOADS else "application/json"
        if body and not _has_type(header(scope, b"content-type"), wanted):
            return await send_problem(send, 415, f"send {wanted}")
        await self._idempotent(scope, body, send)

    async def _idempotent(self, scope: Scope, body: bytes, send: Send) -> None:
        key = header(scope, b"idempotency-key")
        owner = None if key is None else self._owner(scope)
        if key is None or owner is None:
            return await self.app(scope, _replay(body), send)
        if not 1 <= len(key) <= 255:
            return await send_problem(send, 422, "Idempotency-Key must be 1..255 characters")
        request = fingerprint(scope["method"], scope["path"], body)
        try:
            stored = await run_in_threadpool(self.store.begin, owner, key, request,
                                             datetime.now(UTC))
        except IdempotencyMismatchError as error:
            return await send_problem(send, 422, str(error))
        except IdempotencyInFlightError as error:
            return await send_problem(send, 409, str(error))
        except DEPENDENCY_ERRORS as error:
            if not is_unavailable(error):
                raise
            log.warning("503: idempotency store unavailable (%s)", type(error).__name__)
            return await send_problem(send, 503, UNAVAILABLE, {"Retry-After": retry_after()})
        if stored is not None:
            return await _send_stored(send, stored)
        await self._run_and_store(scope, body, send, owner, key)

    async def _run_and_store(self, scope: Scope, body: bytes, send: Send, owner: str,
                             key: str) -> None:
        """Record the response before the client sees it, so a retry that follows the
        answer always finds it stored."""
        captured: dict[str, Any] = {"status": 500, "headers": {}, "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = {bytes(k).decode(): bytes(v).decode()
                                       for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        try:
            await self.app(scope, _replay(body), capture)
        except BaseException:
            await run_in_threadpool(self.store.abandon, owner, key)
            raise
        stored = StoredResponse(captured["status"], captured["body"], captured["headers"])
        try:
            if stored.status >= 500:
                await run_in_threadpool(self.store.abandon, owner, key)
            else:
                await run_in_threadpool(self.store.finish, owner, key, stored)
        except DEPENDENCY_ERRORS as error:
            # The write is done: answer it. Unrecorded, a retry of this key finds it in
            # flight (409) rather than doing the write twice.
            log.warning("idempotency key not recorded (%s)", type(error).__name__)
        await _send_stored(send, stored)

    def _owner(self, scope: Scope) -> str | None:
        """Keys are per user; sign-up (no token yet) shares one anonymous space."""
        auth = header(scope, b"authorization")
        if auth is None:
            return "anonymous" if scope["path"] == "/v1/users" else None
        try:
            return str(self.tokens.verify(auth.removeprefix("Bearer ").strip()))
        except InvalidTokenError:
            return None


def _has_type(content_type: str | None, wanted: str) -> bool:
    if content_type is None:
        return False
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == wanted or (wanted, media_type) == (
        "application/json", "application/merge-patch+json")


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def _send_stored(send: Send, stored: StoredResponse) -> None:
    headers = [(k.encode(), v.encode()) for k, v in stored.headers.items()]
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
