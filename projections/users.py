"""The users projection: profiles the read side needs (zone, week start, working hours)
and the set of known user ids for availability."""

from __future__ import annotations

import json
from typing import Any

from domain.user import User
from projections.base import Tx

COLUMNS = ("email", "name", "timezone", "week_start", "working_hours")


class UsersProjection:
    name = "users"
    topics: tuple[str, ...] = ("calendar:User.",)

    def schema(self) -> list[str]:
        return ["CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, email TEXT NOT NULL,"
                " name TEXT NOT NULL, timezone TEXT NOT NULL, week_start TEXT NOT NULL,"
                " working_hours TEXT NOT NULL)"]

    def tables(self) -> list[str]:
        return ["users"]

    def process(self, event: Any, tx: Tx) -> None:
        if isinstance(event, User.Registered):  # type: ignore[attr-defined]
            tx.execute("INSERT INTO users (user_id, email, name, timezone, week_start,"
                       " working_hours) VALUES (?, ?, ?, ?, ?, ?)",
                       (str(event.originator_id), event.email, event.name, event.timezone,
                        event.week_start, json.dumps(event.working_hours)))
        elif isinstance(event, User.ProfileChanged):  # type: ignore[attr-defined]
            for column, value in event.changes.items():
                stored = json.dumps(value) if column == "working_hours" else value
                if column in COLUMNS:
                    tx.execute(f"UPDATE users SET {column} = ? WHERE user_id = ?",
                               (stored, str(event.originator_id)))
