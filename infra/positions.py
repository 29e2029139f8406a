"""Each user's latest write position, for read-your-own-writes in this process."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from commands.service import Position
from infra.delivery import InProcessDelivery
from projections.event_state import EventState


class InMemoryWritePositions:
    def __init__(self) -> None:
        self._latest: dict[UUID, dict[int, int]] = {}
        self._lock = threading.Lock()

    def record(self, user_id: UUID, position: Position) -> None:
        with self._lock:
            shards = self._latest.setdefault(user_id, {})
            shards[position.shard] = max(shards.get(position.shard, 0), position.notification_id)

    def latest(self, user_id: UUID) -> list[Position]:
        with self._lock:
            return [Position(s, n) for s, n in self._latest.get(user_id, {}).items()]


class WaitForOwnWrites:
    """The read waits for the projections it uses to pass the reader's latest write."""

    def __init__(self, positions: InMemoryWritePositions, delivery: InProcessDelivery,
                 timeout: float) -> None:
        self.positions = positions
        self.delivery = delivery
        self.timeout = timeout

    def wait(self, user_id: UUID, projections: Sequence[str]) -> bool:
        latest = self.positions.latest(user_id)
        if not latest:
            return True
        self.delivery.nudge()
        return self.delivery.wait_for(latest, projections, self.timeout)

    def unapplied(self, user_id: UUID) -> list[EventState]:
        return []

    def profile(self, user_id: UUID) -> dict[str, Any] | None:
        return None
