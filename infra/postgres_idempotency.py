"""Idempotency keys in PostgreSQL, shared by every API process: a table in the views
schema of the user's shard (infra/idempotency.py has the rules)."""

from __future__ import annotations

from datetime import datetime

from infra.idempotency import RETENTION, StoredResponse, Sweeps, encode_headers, replay
from infra.postgres_views import PostgresViews, ShardedViews

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS idempotency (user_id TEXT NOT NULL, key TEXT NOT NULL,"
    " request TEXT NOT NULL, status INTEGER, body BYTEA, headers TEXT,"
    " created_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (user_id, key))",
    "CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency (created_at)",
]


class PostgresIdempotencyStore:
    """infra.idempotency.IdempotencyStore on ShardedViews."""

    def __init__(self, views: ShardedViews) -> None:
        self.views = views
        self._sweeps = Sweeps()
        for shard_views in views.views:
            shard_views.create_tables(SCHEMA)

    def begin(self, user_id: str, key: str, request: str, now: datetime
              ) -> StoredResponse | None:
        home, cutoff = self._home(user_id), now - RETENTION
        if self._sweeps.due(now):
            for views in self.views.views:
                views.execute("DELETE FROM idempotency WHERE created_at < ?", (cutoff,))
        claimed = home.execute(  # a new key, or one expired but not swept yet
            "INSERT INTO idempotency (user_id, key, request, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, key) DO UPDATE SET request = excluded.request,"
            " status = NULL, body = NULL, headers = NULL, created_at = excluded.created_at"
            " WHERE idempotency.created_at < ? RETURNING 1",
            (user_id, key, request, now, cutoff))
        if claimed:
            return None
        rows = home.query("SELECT request, status, body, headers FROM idempotency"
                          " WHERE user_id = ? AND key = ?", (user_id, key))
        if not rows:  # expired and swept in between: claim it again
            return self.begin(user_id, key, request, now)
        request_seen, status, body, headers = rows[0]
        return replay((request_seen, status, None if body is None else bytes(body), headers),
                      request)

    def finish(self, user_id: str, key: str, response: StoredResponse) -> None:
        self._home(user_id).execute(
            "UPDATE idempotency SET status = ?, body = ?, headers = ? WHERE user_id = ?"
            " AND key = ?", (response.status, response.body, encode_headers(response.headers),
                             user_id, key))

    def abandon(self, user_id: str, key: str) -> None:
        self._home(user_id).execute("DELETE FROM idempotency WHERE user_id = ? AND key = ?"
                                    " AND status IS NULL", (user_id, key))

    def _home(self, user_id: str) -> PostgresViews:
        return self.views.of_user(user_id)
