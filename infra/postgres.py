"""PostgreSQL shards: eventsourcing settings for one shard from its DSN, and the lock
that keeps processes starting together from creating tables at the same time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import psycopg


def postgres_env(dsn: str) -> dict[str, str]:
    """The `eventsourcing.postgres` settings for one shard. Never set
    POSTGRES_ENABLE_DB_FUNCTIONS here: that path skips the table lock that keeps the
    notification log gap-free for followers (eventsourcing-notes)."""
    url = urlsplit(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or ""),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
    }


def shard_dsns(setting: str) -> list[str]:
    return [dsn.strip() for dsn in setting.split(",") if dsn.strip()]


@contextmanager
def ddl_lock(dsn: str) -> Iterator[None]:
    """Held while a process creates its tables in the shard's database. Concurrent
    `CREATE ... IF NOT EXISTS` of one table can fail ("tuple concurrently updated") when
    several workers start together; under this lock they run one after another."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('calendar ddl'))")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('calendar ddl'))")
