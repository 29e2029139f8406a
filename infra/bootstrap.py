"""The composition root: builds the embedded default from settings and wires adapters
into handlers, projections and routers. Nothing connects at import time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from commands.application import CalendarShard
from commands.fanout import InvitationFanout
from commands.history import EventStoreHistory
from commands.service import CalendarStores, Position
from commands.shards import ShardMap
from infra.auth import TokenIssuer, load_or_create_secret
from infra.delivery import InProcessDelivery
from infra.idempotency import SqliteIdempotencyStore
from infra.positions import InMemoryWritePositions, WaitForOwnWrites
from infra.settings import Settings
from infra.sqlite_views import SqliteViews
from projections.base import Projection
from projections.calendar import CalendarProjection
from projections.freebusy import FreeBusyProjection
from projections.inbox import InboxProjection
from projections.rsvps import RsvpProjection
from projections.users import UsersProjection
from read_api.queries import SqlBusyStore
from read_api.store import BusyStore

FANOUT_SETTLE_SECONDS = 2.0


def all_projections() -> list[Projection]:
    return [UsersProjection(), CalendarProjection(), RsvpProjection(), InboxProjection(),
            FreeBusyProjection()]


def sqlite_shard(data_dir: Path, index: int) -> CalendarShard:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(data_dir / f"events-{index}.sqlite"),
           "SQLITE_LOCK_TIMEOUT": "30"}
    return CalendarShard(index, env)


def open_views(data_dir: Path, projections: list[Projection]) -> SqliteViews:
    views = SqliteViews(data_dir / "views.sqlite")
    with views.transaction() as tx:
        for projection in projections:
            for statement in projection.schema():
                tx.execute(statement)
    return views


@dataclass
class Container:
    settings: Settings
    stores: CalendarStores
    views: SqliteViews
    delivery: InProcessDelivery
    tokens: TokenIssuer
    idempotency: SqliteIdempotencyStore
    own_writes: WaitForOwnWrites
    history: EventStoreHistory

    def settle_fanout(self) -> None:
        """Wait until the fan-out has seen every write made so far."""
        heads = [(s.index, s.recorder.max_notification_id() or 0) for s in self.stores.shards]
        self.delivery.nudge()
        self.delivery.wait_for([Position(i, n) for i, n in heads], ["fanout"],
                               FANOUT_SETTLE_SECONDS)

    @property
    def busy_store(self) -> BusyStore:
        return SqlBusyStore(self.views)

    def start(self) -> None:
        self.delivery.start()

    def readiness(self) -> dict[str, Callable[[], object]]:
        return {"event_store": lambda: [s.recorder.max_notification_id()
                                        for s in self.stores.shards],
                "views": lambda: self.views.query("SELECT 1")}

    def metrics_text(self) -> str:
        """Prometheus text: how far each processor is behind each shard's log."""
        from infra.metrics import gauge

        heads = {s.index: s.recorder.max_notification_id() or 0 for s in self.stores.shards}
        return gauge("calendar_projection_lag", "notifications not yet applied",
                     {(("projection", name), ("shard", str(shard))):
                      heads[shard] - self.delivery.position(name, shard)
                      for name in self.delivery.names for shard in heads})

    def close(self) -> None:
        self.delivery.stop()
        for shard in self.stores.shards:
            shard.close()


def embedded(settings: Settings) -> Container:
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    shards = [sqlite_shard(data_dir, i) for i in range(settings.embedded_shards)]
    positions = InMemoryWritePositions()
    stores = CalendarStores(shards, ShardMap(len(shards), settings.logical_shards), positions,
                            on_write=lambda: None)
    views = open_views(data_dir, all_projections())
    delivery = InProcessDelivery(shards, views, all_projections(), InvitationFanout(stores))
    stores.on_write = delivery.nudge
    secret = settings.secret or load_or_create_secret(data_dir)
    return Container(
        settings=settings, stores=stores, views=views, delivery=delivery,
        tokens=TokenIssuer(secret, timedelta(hours=settings.token_ttl_hours)),
        idempotency=SqliteIdempotencyStore(data_dir / "idempotency.sqlite"),
        own_writes=WaitForOwnWrites(positions, delivery, settings.ryow_timeout_seconds),
        history=EventStoreHistory(stores),
    )
