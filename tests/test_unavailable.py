"""Which errors mean "a dependency is down" (503 with Retry-After) and which are bugs
(500): a locked SQLite database is the former, a missing table the latter."""

from __future__ import annotations

import sqlite3

import psycopg_pool
import redis.exceptions

from infra.unavailable import is_unavailable, retry_after


def test_dependency_errors_are_unavailable_and_others_are_not() -> None:
    assert is_unavailable(sqlite3.OperationalError("database is locked"))
    assert is_unavailable(psycopg_pool.PoolTimeout("couldn't get a connection"))
    assert is_unavailable(redis.exceptions.ConnectionError("refused"))
    assert not is_unavailable(sqlite3.OperationalError("no such table: cal_entries"))
    assert not is_unavailable(ValueError("bad"))


def test_retry_after_is_jittered_between_one_and_three_seconds() -> None:
    seen = {retry_after() for _ in range(200)}
    assert seen == {"1", "2", "3"}
