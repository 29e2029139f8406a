"""The embedded read model: projections' tables and their tracking positions in one
SQLite file (WAL, so readers never wait for the projector)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TRACKING_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tracking (projection TEXT NOT NULL, shard INTEGER NOT NULL,"
    " position INTEGER NOT NULL, PRIMARY KEY (projection, shard))"
)


class SqliteTx:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.connection.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.connection.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params).fetchall()


class SqliteViews:
    """One connection per thread; writes happen in explicit transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self.transaction() as tx:
            tx.execute(TRACKING_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self) -> Iterator[SqliteTx]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield SqliteTx(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection().execute(sql, params).fetchall()

    def of_user(self, user_id: str) -> SqliteViews:
        """One file holds every user's and every event's rows."""
        return self

    def of_event(self, event_id: str) -> SqliteViews:
        return self

    def positions(self) -> dict[tuple[str, int], int]:
        rows = self.query("SELECT projection, shard, position FROM tracking")
        return {(name, shard): position for name, shard, position in rows}

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
