"""Errors that mean a dependency (PostgreSQL, SQLite under lock contention, Redis) is
down or overloaded rather than that the request or the code is wrong: the API answers
503 with a jittered Retry-After (api-contract), never 500, and changes nothing."""

from __future__ import annotations

import random
import sqlite3

import psycopg
import redis.exceptions
from eventsourcing import persistence

DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,  # connection refused or lost, pool exhausted, too many retries
    psycopg.InterfaceError,
    persistence.OperationalError,  # the event store's own wrapping of the same
    persistence.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    sqlite3.OperationalError,  # only "database is locked/busy" (is_unavailable)
)


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, sqlite3.OperationalError):
        return any(word in str(error) for word in ("locked", "busy"))
    return isinstance(error, DEPENDENCY_ERRORS)


def retry_after() -> str:
    """1-3 seconds, at random, so that clients turned away together do not all return
    together."""
    return str(random.randint(1, 3))
