"""In-process delivery for the embedded default: follows every shard's notification log
(SQLite has no LISTEN/NOTIFY, so it is nudged by writes and polls as a fallback) and
feeds the fan-out process manager and the projections.

Exactly once: a projection's rows and its tracking position commit in one transaction;
the fan-out's effects are idempotent by construction (commands.fanout), so replaying
them after a crash changes nothing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from commands.application import CalendarShard
from commands.fanout import InvitationFanout
from commands.service import Position
from infra.sqlite_views import SqliteTx, SqliteViews
from projections.base import Projection

BATCH = 500
POLL_SECONDS = 0.5
log = logging.getLogger(__name__)

Progress = Callable[[int], None]


def save_position(tx: SqliteTx, name: str, shard: int, position: int) -> None:
    tx.execute("INSERT INTO tracking (projection, shard, position) VALUES (?, ?, ?)"
               " ON CONFLICT (projection, shard) DO UPDATE SET position = excluded.position",
               (name, shard, position))


class InProcessDelivery:
    def __init__(self, shards: Sequence[CalendarShard], views: SqliteViews,
                 projections: Sequence[Projection], fanout: InvitationFanout | None) -> None:
        self.shards = shards
        self.views = views
        self.projections = projections
        self.fanout = fanout
        self.positions = views.positions()
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- following --------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.projections] + ([self.fanout.name] if self.fanout else [])

    def position(self, name: str, shard: int) -> int:
        return self.positions.get((name, shard), 0)

    def catch_up_once(self) -> int:
        """Deliver one batch from each shard; returns how many notifications it read."""
        return sum(self._deliver_batch(shard) for shard in self.shards)

    def _deliver_batch(self, shard: CalendarShard) -> int:
        start = min(self.position(name, shard.index) for name in self.names)
        notifications = shard.recorder.select_notifications(
            start, BATCH, inclusive_of_start=False)
        if not notifications:
            return 0
        events = [(n.id, shard.mapper.to_domain_event(n)) for n in notifications]
        if self.fanout is not None:
            self._fan_out(shard.index, events)
        for projection in self.projections:
            self._project(projection, shard.index, events)
        return len(notifications)

    def _fan_out(self, shard: int, events: list[tuple[int, Any]]) -> None:
        assert self.fanout is not None
        todo = [(i, e) for i, e in events if i > self.position(self.fanout.name, shard)]
        for _, event in todo:
            self.fanout.process(event)
        if todo:
            with self.views.transaction() as tx:
                save_position(tx, self.fanout.name, shard, todo[-1][0])
            self._advance(self.fanout.name, shard, todo[-1][0])

    def _project(self, projection: Projection, shard: int, events: list[tuple[int, Any]]) -> None:
        todo = [(i, e) for i, e in events if i > self.position(projection.name, shard)]
        if not todo:
            return
        with self.views.transaction() as tx:
            for _, event in todo:
                projection.process(event, tx)
            save_position(tx, projection.name, shard, todo[-1][0])
        self._advance(projection.name, shard, todo[-1][0])

    def _advance(self, name: str, shard: int, position: int) -> None:
        with self._changed:
            self.positions[(name, shard)] = position
            self._changed.notify_all()

    # -- read-your-own-writes ---------------------------------------------------------

    def wait_for(self, positions: Sequence[Position], names: Sequence[str],
                 timeout: float) -> bool:
        """Block until every named processor has passed every position (or timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._passed(positions, names):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _passed(self, positions: Sequence[Position], names: Sequence[str]) -> bool:
        return all(self.position(n, p.shard) >= p.notification_id
                   for p in positions for n in names)

    # -- the background thread --------------------------------------------------------

    def nudge(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.catch_up_once()
            except Exception:  # keep following; the failed batch is retried, never skipped
                log.exception("delivery failed; retrying")
                delivered = 0
                time.sleep(POLL_SECONDS)
            if not delivered:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()

    # -- rebuilding -------------------------------------------------------------------

    def rebuild(self, progress: Progress) -> int:
        """Empty the projections and replay every shard's log into them."""
        with self.views.transaction() as tx:
            for projection in self.projections:
                for table in projection.tables():
                    tx.execute(f"DELETE FROM {table}")
                tx.execute("DELETE FROM tracking WHERE projection = ?", (projection.name,))
        self.positions = self.views.positions()
        total = 0
        while delivered := self.catch_up_once():
            total += delivered
            progress(delivered)
        return total
