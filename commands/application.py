"""One eventsourcing application per physical shard: its event store holds the
aggregates of the users on that shard, and its notification log is the outbox."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application


class CalendarShard(Application[UUID]):
    """An application whose name (and so its settings prefix and, on PostgreSQL, its
    table names) carries the shard number."""

    def __init__(self, index: int, env: dict[str, str]) -> None:
        self.index = index
        self.name = f"calendar_shard_{index}"
        super().__init__(env)
