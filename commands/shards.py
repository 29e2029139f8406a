"""Shard routing: users map to logical shards by a stable hash of their id, logical
shards map to physical event stores. Capacity grows by moving logical shards, never by
rehashing users (architecture.md, Sharding)."""

from __future__ import annotations

from uuid import UUID

from domain.routing import routing_key, routing_key_of_event

DEFAULT_LOGICAL_SHARDS = 256


class ShardMap:
    def __init__(self, physical_shards: int, logical_shards: int = DEFAULT_LOGICAL_SHARDS) -> None:
        if not 1 <= physical_shards <= logical_shards:
            raise ValueError("need 1 <= physical shards <= logical shards")
        self.physical_shards = physical_shards
        self.logical_shards = logical_shards

    def of_user(self, user_id: UUID) -> int:
        """The physical shard holding the user's aggregates and view rows."""
        return self._physical(routing_key(user_id) % self.logical_shards)

    def of_event(self, event_id: UUID) -> int:
        """The physical shard of the event's organizer."""
        return self._physical(routing_key_of_event(event_id) % self.logical_shards)

    def _physical(self, logical_shard: int) -> int:
        """Logical shards are dealt to physical ones round-robin."""
        return logical_shard % self.physical_shards
