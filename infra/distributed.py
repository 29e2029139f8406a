"""The composition root of the distributed deployment (CALENDAR_SHARDS set): PostgreSQL
shard event stores, the outbox relay to Kafka, Kafka-fed projectors and fan-out, views
in PostgreSQL and free/busy in Redis. The domain, the command handlers and the
projection classes are the embedded default's own; only the adapters differ.

The same pieces run in one process (`calctl serve --workers`) or as separate workers
(`calctl relay|fanout|projector`), each of which builds only a Backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Protocol
from uuid import UUID

import psycopg
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from eventsourcing.persistence import Notification

from commands.application import CalendarShard
from commands.fanout import InvitationFanout
from commands.history import EventStoreHistory
from commands.service import CalendarStores
from commands.shards import ShardMap
from infra.auth import TokenIssuer, load_or_create_secret
from infra.bootstrap import all_projections
from infra.kafka_consumer import (
    Decoder,
    Delivery,
    FanoutSink,
    KafkaConsumerRunner,
    Sink,
    group_of,
)
from infra.kafka_relay import (
    KafkaRelay,
    RelayPositions,
    ensure_topic,
    partition_of,
    producer_config,
)
from infra.metrics import ConsumerLag, Labels, gauge
from infra.own_writes import SharedWritePositions, Tracker, WaitForProjections
from infra.postgres import ddl_lock, postgres_env, shard_dsns
from infra.postgres_idempotency import PostgresIdempotencyStore
from infra.postgres_views import (
    PostgresProjector,
    PostgresViews,
    ShardedViews,
    create_schema,
)
from infra.redis_freebusy import RedisFreeBusy
from infra.settings import Settings
from read_api.queries import SqlBusyStore
from read_api.store import BusyStore

PROJECTIONS = tuple(p.name for p in all_projections())
FANOUT_SETTLE_SECONDS = 5.0
REPLAY_BATCH = 500


class Job(Protocol):
    @property
    def ready(self) -> threading.Event: ...
    def run(self, stop: threading.Event) -> None: ...


class ProjectionSink(Sink, Protocol):
    def reset(self) -> None: ...


def shard_env(dsn: str, settings: Settings) -> dict[str, str]:
    return {**postgres_env(dsn), "POSTGRES_SCHEMA": settings.event_store_schema,
            "POSTGRES_POOL_SIZE": str(settings.pg_pool_size),
            "POSTGRES_MAX_OVERFLOW": str(settings.pg_pool_size * 2)}


class RecordingShard(CalendarShard):
    """A shard that remembers, per thread, the notifications its last save wrote: one
    save can write several aggregates (a series split), hence several partitions, and
    read-your-own-writes must wait for each of them."""

    def __init__(self, index: int, env: dict[str, str]) -> None:
        super().__init__(index, env)
        self.last_saved = threading.local()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        self.last_saved.notifications = [r.notification for r in recordings]
        return recordings

    def saved(self, notification_id: int) -> list[Notification]:
        """The notifications of this thread's save that ended at `notification_id`."""
        found: list[Notification] = getattr(self.last_saved, "notifications", [])
        if found and max(n.id for n in found) == notification_id:
            return found
        return list(self.recorder.select_notifications(notification_id, 1))


def open_shards(settings: Settings) -> list[RecordingShard]:
    """One application per physical shard; the event store's schema is created here
    because the library expects it to exist."""
    shards = []
    for index, dsn in enumerate(shard_dsns(settings.shards)):
        create_schema(dsn, settings.event_store_schema)
        with ddl_lock(dsn):  # the library creates its tables in the constructor
            shards.append(RecordingShard(index, shard_env(dsn, settings)))
    return shards


class Backend:
    """What every distributed process needs: shards, routing, views, free/busy."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dsns = shard_dsns(settings.shards)
        self.shards = open_shards(settings)
        self.shard_map = ShardMap(len(self.shards), settings.logical_shards)
        self.views = ShardedViews([PostgresViews(i, dsn, settings.views_schema,
                                                 settings.pg_pool_size)
                                   for i, dsn in enumerate(self.dsns)], self.shard_map)
        self.freebusy = _redis_freebusy(settings)
        in_postgres = [p for p in all_projections()
                       if not (p.name == "freebusy" and self.freebusy is not None)]
        for views in self.views.views:
            views.create(in_postgres)
        self.decoder = Decoder(self.shards)

    def projectors(self, names: Sequence[str]) -> list[ProjectionSink]:
        sinks: list[ProjectionSink] = []
        for projection in all_projections():
            if projection.name not in names:
                continue
            if projection.name == "freebusy" and self.freebusy is not None:
                sinks.append(self.freebusy)
            else:
                sinks.append(PostgresProjector(projection, self.views))
        return sinks

    def busy_store(self) -> BusyStore:
        return self.freebusy.reader() if self.freebusy is not None else SqlBusyStore(self.views)

    def trackers(self) -> list[Tracker]:
        return [self.views] + ([self.freebusy] if self.freebusy is not None else [])

    def stores(self, positions: SharedWritePositions | None = None) -> CalendarStores:
        return CalendarStores(list[CalendarShard](self.shards), self.shard_map,
                              positions or self.write_positions(), on_write=lambda: None)

    def write_positions(self) -> SharedWritePositions:
        return SharedWritePositions(self.shards, self.views, self.settings.kafka_partitions)

    def relays(self, only: int | None = None) -> list[KafkaRelay]:
        ensure_topic(self.settings)
        producer = Producer(producer_config(self.settings))
        return [KafkaRelay(shard, producer, RelayPositions(
                    self.dsns[shard.index], self.settings.event_store_schema,
                    self.settings.kafka_topic, shard.index), self.settings)
                for shard in self.shards if only in (None, shard.index)]

    def runner(self, sink: Sink) -> KafkaConsumerRunner:
        ensure_topic(self.settings)
        return KafkaConsumerRunner(self.settings, self.decoder, sink)

    def deliveries(self, shard: CalendarShard, after: int) -> list[Delivery]:
        """The next notifications of a shard as the consumers would receive them."""
        found = shard.recorder.select_notifications(after, REPLAY_BATCH,
                                                    inclusive_of_start=False)
        partitions = self.settings.kafka_partitions
        return [Delivery(shard.index, n.id, partition_of(UUID(str(n.originator_id)), partitions),
                         shard.mapper.to_domain_event(n)) for n in found]

    def close(self) -> None:
        self.views.close()
        if self.freebusy is not None:
            self.freebusy.close()
        for shard in self.shards:
            shard.close()


def _redis_freebusy(settings: Settings) -> RedisFreeBusy | None:
    return RedisFreeBusy(settings.redis_url, settings.redis_prefix) if settings.redis_url else None


def replay(backend: Backend, names: Sequence[str], only: int | None,
           progress: Callable[[int], None]) -> int:
    """Empty the chosen projections and apply every shard's log to them, as the
    consumers would (same sinks, same partitions, same tracking): infra/replay.py. With
    `backend` open (its pools run threads, so no fork) they are replayed in this
    process, through it; `calctl replay` runs them in several processes."""
    from infra.replay import replay as replay_projections

    return replay_projections(backend.settings, names, only, progress, backend)


# -- read-your-own-writes ------------------------------------------------------------


# -- workers -------------------------------------------------------------------------


class Workers:
    """Relays, fan-out and projectors as threads of one process."""

    def __init__(self, jobs: Sequence[tuple[str, Job]]) -> None:
        self.stop_event = threading.Event()
        self.jobs = jobs
        self.threads = [threading.Thread(target=job.run, args=(self.stop_event,), name=name,
                                         daemon=True) for name, job in jobs]

    @classmethod
    def of(cls, backend: Backend, relay: bool = True, fanout: bool = True,
           projections: Sequence[str] | None = None, shard: int | None = None) -> Workers:
        jobs: list[tuple[str, Job]] = []
        if relay:
            jobs += [(f"relay-{r.shard.index}", r) for r in backend.relays(shard)]
        if fanout:
            sink = FanoutSink(InvitationFanout(backend.stores()))
            jobs.append(("fanout", backend.runner(sink)))
        if projections:
            jobs += [(f"projector-{s.name}", backend.runner(s))
                     for s in backend.projectors(projections)]
        return cls(jobs)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self.threads)

    def check_ready(self) -> None:
        """Relays hold their shard's lock; consumers have their partitions."""
        waiting = [name for name, job in self.jobs if not job.ready.is_set()]
        if waiting or not self.alive():
            raise RuntimeError("not ready: " + ", ".join(waiting or ["a worker died"]))


# -- the API's container -------------------------------------------------------------


@dataclass
class DistributedContainer:
    settings: Settings
    backend: Backend
    stores: CalendarStores
    views: ShardedViews
    busy_store: BusyStore
    tokens: TokenIssuer
    idempotency: PostgresIdempotencyStore
    own_writes: WaitForProjections
    history: EventStoreHistory
    workers: Workers | None
    lag: ConsumerLag

    def start(self) -> None:
        if self.workers is not None:
            self.workers.start()

    def close(self) -> None:
        if self.workers is not None:
            self.workers.stop()
        self.lag.close()
        self.backend.close()

    def settle_fanout(self) -> None:
        """Wait until everything written so far is relayed and fanned out."""
        deadline = time.monotonic() + FANOUT_SETTLE_SECONDS
        fanout = group_of(self.settings, "fanout")
        while time.monotonic() < deadline:
            if not any(self.relay_backlog().values()) and not any(
                    self.lag.lag(fanout).values()):
                return
            time.sleep(0.02)

    def relay_backlog(self) -> dict[int, int]:
        return {s.index: (s.recorder.max_notification_id() or 0) - self._relayed(s.index)
                for s in self.backend.shards}

    def _relayed(self, shard: int) -> int:
        table = f"{self.settings.event_store_schema}.relay_positions"
        try:
            rows = self.views.views[shard].query(
                f"SELECT position FROM {table} WHERE topic = ? AND shard = ?",
                (self.settings.kafka_topic, shard))
        except psycopg.errors.UndefinedTable:
            return 0
        return int(rows[0][0]) if rows else 0

    def readiness(self) -> dict[str, Callable[[], object]]:
        checks: dict[str, Callable[[], object]] = {}
        for shard in self.backend.shards:
            checks[f"event_store_{shard.index}"] = shard.recorder.max_notification_id
        for views in self.views.views:
            checks[f"views_{views.index}"] = partial(views.query, "SELECT 1")
        checks["kafka"] = self._kafka_ready
        if self.backend.freebusy is not None:
            checks["redis"] = self.backend.freebusy.ping
        if self.workers is not None:
            checks["workers"] = self.workers.check_ready
        return checks

    def _kafka_ready(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
        if self.settings.kafka_topic not in admin.list_topics(timeout=2).topics:
            raise LookupError(f"no topic {self.settings.kafka_topic}")

    def metrics_text(self) -> str:
        names = PROJECTIONS
        groups = [group_of(self.settings, n) for n in [*names, "fanout"]]
        heads = {s.index: s.recorder.max_notification_id() or 0 for s in self.backend.shards}
        tracked = self.own_writes.tracked()
        applied: dict[Labels, float] = {}
        for name in names:
            for shard, head in heads.items():
                furthest = max((n for (p, s, _), n in tracked.items() if (p, s) == (name, shard)),
                               default=0)
                applied[(("projection", name), ("shard", str(shard)))] = head - furthest
        return "".join([
            gauge("calendar_relay_backlog", "notifications committed but not yet in Kafka",
                  {(("shard", str(s)),): b for s, b in self.relay_backlog().items()}),
            gauge("calendar_consumer_lag", "messages not yet consumed by a group",
                  self.lag.samples(groups)),
            gauge("calendar_projection_lag", "notifications in the log beyond the furthest"
                  " one a projection applied", applied),
        ])


def distributed(settings: Settings, workers: bool = False) -> DistributedContainer:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    backend = Backend(settings)
    ensure_topic(settings)
    positions = backend.write_positions()
    stores = backend.stores(positions)
    secret = settings.secret or load_or_create_secret(settings.data_dir)
    return DistributedContainer(
        settings=settings, backend=backend, stores=stores, views=backend.views,
        busy_store=backend.busy_store(),
        tokens=TokenIssuer(secret, timedelta(hours=settings.token_ttl_hours)),
        idempotency=PostgresIdempotencyStore(backend.views),
        own_writes=WaitForProjections(positions, backend.trackers(),
                                      settings.ryow_timeout_seconds, stores),
        history=EventStoreHistory(stores),
        workers=Workers.of(backend, projections=PROJECTIONS) if workers else None,
        lag=ConsumerLag(settings.kafka_bootstrap, settings.kafka_topic,
                        settings.kafka_partitions),
    )
