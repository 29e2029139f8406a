"""Idempotency keys: the same key from the same user within 24 h replays the first
response and performs the write once; the same key with another body is a 422.
Concurrent requests with one key: the second gets 409 while the first is in flight."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

RETENTION = timedelta(hours=24)
SWEEP_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


class IdempotencyMismatchError(Exception):
    """The key was used before with a different request body."""


class IdempotencyInFlightError(Exception):
    """The first request with this key has not finished yet."""


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore(Protocol):
    def begin(self, user_id: str, key: str, request: str, now: datetime
              ) -> StoredResponse | None:
        """Claim the key, or return the response stored under it (raises the errors
        above for another body, or a first request still in flight)."""
        ...

    def finish(self, user_id: str, key: str, response: StoredResponse) -> None: ...

    def abandon(self, user_id: str, key: str) -> None:
        """The write failed before answering (a bug, a crash): let a retry run it."""
        ...


class Sweeps:
    """When to delete every expired key: at most once per SWEEP_EVERY, not on every
    write. A request finds its own key expired by a lookup on the key itself."""

    def __init__(self) -> None:
        self._next: datetime | None = None
        self._lock = threading.Lock()

    def due(self, now: datetime) -> bool:
        with self._lock:
            if self._next is not None and now < self._next:
                return False
            self._next = now + SWEEP_EVERY
            return True


def encode_headers(headers: dict[str, str]) -> str:
    return "\n".join(f"{k}:{v}" for k, v in headers.items())


class SqliteIdempotencyStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        self._sweeps = Sweeps()
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS idempotency (user_id TEXT, key TEXT, request TEXT,"
            " status INTEGER, body BLOB, headers TEXT, created_at TEXT,"
            " PRIMARY KEY (user_id, key))")

    def begin(self, user_id: str, key: str, request: str, now: datetime) -> StoredResponse | None:
        """Claim the key, or return the response stored under it."""
        cutoff = (now - RETENTION).isoformat()
        with self._lock:
            if self._sweeps.due(now):
                self._db.execute("DELETE FROM idempotency WHERE created_at < ?", (cutoff,))
            self._db.execute("DELETE FROM idempotency WHERE user_id = ? AND key = ?"
                             " AND created_at < ?", (user_id, key, cutoff))
            row = self._db.execute(
                "SELECT request, status, body, headers FROM idempotency"
                " WHERE user_id = ? AND key = ?", (user_id, key)).fetchone()
            if row is None:
                self._db.execute("INSERT INTO idempotency VALUES (?, ?, ?, NULL, NULL, NULL, ?)",
                                 (user_id, key, request, now.isoformat()))
                return None
        return replay(row, request)

    def finish(self, user_id: str, key: str, response: StoredResponse) -> None:
        headers = encode_headers(response.headers)
        with self._lock:
            self._db.execute("UPDATE idempotency SET status = ?, body = ?, headers = ?"
                             " WHERE user_id = ? AND key = ?",
                             (response.status, response.body, headers, user_id, key))

    def abandon(self, user_id: str, key: str) -> None:
        """The write failed before answering (a bug, a crash): let a retry run it."""
        with self._lock:
            self._db.execute("DELETE FROM idempotency WHERE user_id = ? AND key = ?"
                             " AND status IS NULL", (user_id, key))



def replay(row: tuple[str, int | None, bytes | None, str | None],
           request: str) -> StoredResponse:
    stored_request, status, body, headers = row
    if stored_request != request:
        raise IdempotencyMismatchError("Idempotency-Key reused with a different request")
    if status is None or body is None:
        raise IdempotencyInFlightError("a request with this Idempotency-Key is in progress")
    pairs = (line.split(":", 1) for line in (headers or "").splitlines())
    return StoredResponse(status, body, {k: v for k, v in pairs})
