"""The outbox relay: follows one shard's notification log (the transactional outbox,
architecture.md) and publishes every domain event to Kafka.

At least once: a batch is published, the producer is flushed and every delivery
confirmed, and only then is the batch's last notification id recorded in the shard's
own database. A crash between the two republishes the batch; consumers are idempotent
(tracking per shard, partition and notification id), so effects stay exactly once.

Messages carry the stored event as the event store keeps it (topic header + state
bytes), keyed by aggregate id, with the shard and notification id in headers, so a
consumer rebuilds the domain event with the shard's own mapper."""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from eventsourcing.persistence import Notification
from psycopg import sql

from commands.application import CalendarShard
from infra.postgres import ddl_lock
from infra.settings import Settings

BATCH = 500
IDLE_WAIT_SECONDS = 1.0
FLUSH_SECONDS = 30.0
log = logging.getLogger(__name__)


class RelayError(RuntimeError):
    """Kafka did not confirm a batch; it is republished from the recorded position."""


def partition_of(aggregate_id: UUID, partitions: int) -> int:
    """One aggregate, one partition: consumers see each aggregate's events in order.
    Computed here rather than by the client's partitioner so that the read side can
    find a write's partition from its aggregate id (read-your-own-writes)."""
    return zlib.crc32(aggregate_id.bytes) % partitions


def producer_config(settings: Settings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True,
            "acks": "all", "linger.ms": 2, "compression.type": "lz4"}


def ensure_topic(settings: Settings) -> None:
    """Create the events topic if missing; refuse one with another partition count
    (partition_of would then disagree with where messages really are)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topic = NewTopic(settings.kafka_topic, num_partitions=settings.kafka_partitions,
                     replication_factor=settings.kafka_replication)
    for future in admin.create_topics([topic]).values():
        try:
            future.result()
        except Exception as error:  # only "already exists" is fine; re-raised otherwise
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    found = admin.list_topics(settings.kafka_topic, timeout=10).topics[settings.kafka_topic]
    if len(found.partitions) != settings.kafka_partitions:
        raise RelayError(f"topic {settings.kafka_topic} has {len(found.partitions)} "
                         f"partitions, settings say {settings.kafka_partitions}")


def headers_of(shard: int, n: Notification) -> list[tuple[str, str | bytes | None]]:
    return [("shard", str(shard).encode()), ("notification_id", str(n.id).encode()),
            ("topic", n.topic.encode()),
            ("originator_version", str(n.originator_version).encode())]


class RelayPositions:
    """The relay's position per (topic, shard), in the shard's own database, on one
    connection that also holds the relay's advisory lock and LISTENs for new events."""

    def __init__(self, dsn: str, schema: str, topic: str, shard: int) -> None:
        self.dsn = dsn
        self.table = sql.Identifier(schema, "relay_positions")
        self.key = (topic, shard)
        self.lock_name = f"relay:{schema}:{topic}:{shard}"
        self.conn: psycopg.Connection[Any] | None = None

    @property
    def db(self) -> psycopg.Connection[Any]:
        if self.conn is None:
            self.conn = psycopg.connect(self.dsn, autocommit=True)
            with ddl_lock(self.dsn):
                self.conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (topic TEXT NOT NULL,"
                    " shard INTEGER NOT NULL, position BIGINT NOT NULL,"
                    " PRIMARY KEY (topic, shard))").format(self.table))
        return self.conn

    def try_lock(self) -> bool:
        """One active relay per shard and topic; others wait as hot standbys."""
        row = self.db.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                (self.lock_name,)).fetchone()
        return bool(row and row[0])

    def get(self) -> int:
        row = self.db.execute(sql.SQL("SELECT position FROM {} WHERE topic = %s AND shard = %s")
                                .format(self.table), self.key).fetchone()
        return int(row[0]) if row else 0

    def save(self, position: int) -> None:
        self.db.execute(sql.SQL(
            "INSERT INTO {} (topic, shard, position) VALUES (%s, %s, %s)"
            " ON CONFLICT (topic, shard) DO UPDATE SET position = excluded.position")
            .format(self.table), (*self.key, position))

    def listen(self, channel: str) -> None:
        self.db.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    def wait_for_news(self, timeout: float) -> None:
        for _ in self.db.notifies(timeout=timeout, stop_after=1):
            pass

    def close(self) -> None:
        """Also gives the advisory lock up (it belongs to the connection)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class KafkaRelay:
    """Publishes one shard's notification log to the events topic."""

    def __init__(self, shard: CalendarShard, producer: Producer, positions: RelayPositions,
                 settings: Settings) -> None:
        self.shard = shard
        self.producer = producer
        self.positions = positions
        self.topic = settings.kafka_topic
        self.partitions = settings.kafka_partitions
        self.position = 0
        self.ready = threading.Event()

    def relay_once(self) -> int:
        """Publish the next batch; returns how many notifications it published."""
        batch = self.shard.recorder.select_notifications(self.position, BATCH,
                                                         inclusive_of_start=False)
        if batch:
            self._publish(batch)
            self.positions.save(batch[-1].id)
            self.position = batch[-1].id
        return len(batch)

    def _publish(self, batch: Sequence[Notification]) -> None:
        failures: list[str] = []

        def delivered(error: KafkaError | None, _: object) -> None:
            if error is not None:
                failures.append(str(error))

        for n in batch:
            aggregate_id = UUID(str(n.originator_id))
            self.producer.produce(self.topic, key=str(aggregate_id).encode(), value=n.state,
                                  partition=partition_of(aggregate_id, self.partitions),
                                  headers=headers_of(self.shard.index, n),
                                  on_delivery=delivered)
        if self.producer.flush(FLUSH_SECONDS) or failures:
            raise RelayError(f"shard {self.shard.index}: {failures[:3] or 'flush timed out'}")

    def run(self, stop: threading.Event) -> None:
        """Follow the log until `stop`. After a failure (database, Kafka) start again
        from the recorded position, on a new connection."""
        while not stop.is_set():
            try:
                self._follow(stop)
            except Exception:  # logged and retried; the unrecorded batch is published again
                log.exception("relay %d failed; resuming from the recorded position",
                              self.shard.index)
                stop.wait(IDLE_WAIT_SECONDS)
            finally:
                self.ready.clear()
                self.positions.close()

    def _follow(self, stop: threading.Event) -> None:
        while not self.positions.try_lock():  # a standby until the active relay goes away
            if stop.wait(IDLE_WAIT_SECONDS):
                return
        self.position = self.positions.get()
        recorder: Any = self.shard.recorder  # PostgresApplicationRecorder on PostgreSQL
        self.positions.listen(recorder.channel_name)
        self.ready.set()
        while not stop.is_set():
            if not self.relay_once():
                self.positions.wait_for_news(IDLE_WAIT_SECONDS)
