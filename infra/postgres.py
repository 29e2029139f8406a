"""PostgreSQL shards: eventsourcing settings for one shard from its DSN."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


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
