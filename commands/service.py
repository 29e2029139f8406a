"""The write side's unit of work: shard lookup, load, save, and where each write landed
(the position read-your-own-writes waits for)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from commands.application import CalendarShard
from commands.shards import ShardMap


@dataclass(frozen=True)
class Position:
    """Where a write landed: a notification id in one shard's log."""

    shard: int
    notification_id: int


class WritePositions(Protocol):
    """Remembers each user's latest write so their next read can wait for it."""

    def record(self, user_id: UUID, position: Position) -> None: ...
    def latest(self, user_id: UUID) -> list[Position]: ...


class NotFoundError(Exception):
    """No such aggregate (or not visible to the caller): 404."""


A = TypeVar("A", bound=Aggregate)


class CalendarStores:
    """The shards' applications behind one routing facade."""

    def __init__(self, shards: list[CalendarShard], shard_map: ShardMap,
                 positions: WritePositions, on_write: Callable[[], None]) -> None:
        self.shards = shards
        self.shard_map = shard_map
        self.positions = positions
        self.on_write = on_write

    def user_shard(self, user_id: UUID) -> CalendarShard:
        return self.shards[self.shard_map.of_user(user_id)]

    def event_shard(self, event_id: UUID) -> CalendarShard:
        return self.shards[self.shard_map.of_event(event_id)]

    def load(self, shard: CalendarShard, aggregate_id: UUID, kind: type[A]) -> A:
        try:
            aggregate: Aggregate = shard.repository.get(aggregate_id)
        except AggregateNotFoundError as error:
            raise NotFoundError(str(aggregate_id)) from error
        if not isinstance(aggregate, kind):
            raise NotFoundError(str(aggregate_id))
        return aggregate

    def exists(self, shard: CalendarShard, aggregate_id: UUID) -> bool:
        return aggregate_id in shard.repository

    def save(self, author_id: UUID, shard: CalendarShard, *aggregates: Aggregate) -> Position:
        """Save in one transaction and remember the position for the author's next read."""
        recordings = shard.save(*aggregates)
        position = Position(shard.index, max(r.notification.id for r in recordings))
        self.positions.record(author_id, position)
        self.on_write()
        return position
