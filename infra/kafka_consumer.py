"""The Kafka consumer runner: a consumer group on the events topic that turns each
message back into the domain event the shard stored (the shard's own mapper) and hands
batches of them to a sink: a projection's view store, or the invitation fan-out.

Offsets are committed after the sink has finished a batch, but exactly-once effects do
not rest on them: every sink is idempotent (projections track the position per shard
and partition in the same transaction as their rows; the fan-out is guarded by event
versions), so a batch redelivered after a crash or a rebalance changes nothing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from eventsourcing.persistence import StoredEvent

from commands.application import CalendarShard
from commands.fanout import InvitationFanout
from infra.settings import Settings

BATCH = 500
POLL_SECONDS = 0.1
RESTART_SECONDS = 1.0
FANOUT_TOPIC = "calendar:CalendarEvent."  # the fan-out follows events only
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One domain event with where it came from: its shard's notification id, and the
    Kafka partition that carries its aggregate's events in order. `event` is None when
    the sink does not read that kind of event (it was not decoded)."""

    shard: int
    notification_id: int
    partition: int
    event: Any


class Sink(Protocol):
    name: str

    def handle(self, deliveries: Sequence[Delivery]) -> None: ...


@runtime_checkable
class SelectiveSink(Sink, Protocol):
    """A sink that reads only some kinds of event: the others reach it undecoded."""

    def wants(self, topic: str) -> bool: ...


class Decoder:
    """Kafka message -> StoredEvent -> the domain event, with the source shard's mapper."""

    def __init__(self, shards: Sequence[CalendarShard]) -> None:
        self.mappers = {s.index: s.mapper for s in shards}

    def decode(self, message: Message, wants: Callable[[str], bool] | None = None
               ) -> Delivery:
        headers = dict(_pairs(message))
        shard = int(headers["shard"])
        notification_id, partition = int(headers["notification_id"]), message.partition() or 0
        if wants is not None and not wants(headers["topic"]):
            return Delivery(shard, notification_id, partition, None)
        stored = StoredEvent(originator_id=UUID(_text(message.key())),
                             originator_version=int(headers["originator_version"]),
                             topic=headers["topic"], state=message.value() or b"")
        return Delivery(shard, notification_id, partition,
                        self.mappers[shard].to_domain_event(stored))


def _pairs(message: Message) -> list[tuple[str, str]]:
    headers = message.headers() or []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), _text(v)) for k, v in items]


def _text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


def consumer_config(settings: Settings, group: str) -> dict[str, Any]:
    config = {"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
              "enable.auto.commit": False, "auto.offset.reset": "earliest",
              "session.timeout.ms": 10000, "heartbeat.interval.ms": 2000,
              "enable.partition.eof": False,
              "fetch.min.bytes": settings.consumer_fetch_min_bytes,
              "fetch.wait.max.ms": settings.consumer_fetch_wait_ms}
    if settings.worker_id:
        # Static membership: a restarted worker takes its partitions back at once
        # instead of waiting for the group to notice the old member is gone.
        config["group.instance.id"] = f"{group}-{settings.worker_id}"
    return config


def group_of(settings: Settings, sink_name: str) -> str:
    return f"{settings.consumer_group_prefix}.{sink_name}"


class KafkaConsumerRunner:
    """Runs one sink as a member of its consumer group until stopped."""

    def __init__(self, settings: Settings, decoder: Decoder, sink: Sink) -> None:
        self.settings = settings
        self.decoder = decoder
        self.sink = sink
        self.group = group_of(settings, sink.name)
        self.wants = sink.wants if isinstance(sink, SelectiveSink) else None
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop`. A failed batch closes the consumer and starts again
        from the committed offsets, so nothing is skipped."""
        while not stop.is_set():
            try:
                self._consume(stop)
            except Exception:  # logged and retried: the batch is redelivered, never lost
                log.exception("%s: batch failed; restarting from committed offsets",
                              self.group)
                stop.wait(RESTART_SECONDS)

    def _consume(self, stop: threading.Event) -> None:
        consumer = Consumer(consumer_config(self.settings, self.group))
        offsets = Offsets(consumer, self.group)
        consumer.subscribe([self.settings.kafka_topic],
                           on_assign=lambda *_: self.ready.set(),
                           on_revoke=lambda _, partitions: offsets.flush(partitions))
        try:
            while not stop.is_set():
                messages = [m for m in _next_batch(consumer) if _ok(m)]
                if messages:
                    self.sink.handle([self.decoder.decode(m, self.wants) for m in messages])
                    offsets.processed(messages)
                else:
                    offsets.flush()
        finally:
            consumer.close()


class Offsets:
    """Commits what was processed. Asynchronously after each batch; an async commit that
    fails (a rebalance in progress) is not retried by the client, so when the consumer
    is idle, or gives partitions up, the offsets not yet confirmed are committed again,
    synchronously. Otherwise the lag would read >0 until the next message arrives."""

    def __init__(self, consumer: Consumer, group: str) -> None:
        self.consumer = consumer
        self.group = group
        self.pending: dict[tuple[str, int], int] = {}

    def processed(self, messages: Sequence[Message]) -> None:
        batch = _next_offsets(messages)
        self.pending.update({(tp.topic, tp.partition): tp.offset for tp in batch})
        self.consumer.commit(offsets=batch, asynchronous=True)

    def flush(self, revoked: Sequence[TopicPartition] = ()) -> None:
        if self.pending:
            offsets = [TopicPartition(t, p, o) for (t, p), o in self.pending.items()]
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
                self.pending.clear()
            except KafkaException as error:
                log.warning("%s: commit failed (%s); will try again", self.group, error)
        for tp in revoked:
            self.pending.pop((tp.topic, tp.partition), None)


def _next_batch(consumer: Consumer) -> list[Message]:
    """Wait for one message, then take what else is already fetched: `consume(n, t)`
    alone would wait the whole timeout for n messages, a floor under every hop."""
    first = consumer.poll(POLL_SECONDS)
    return [] if first is None else [first, *consumer.consume(BATCH - 1, 0)]


def _next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    """Explicit offsets: a commit without them takes whatever the consumer holds when the
    commit is sent, which can already include the next, unprocessed batch."""
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        last[(m.topic() or "", m.partition() or 0)] = m.offset() or 0
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def _ok(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.fatal():
        raise RuntimeError(f"kafka: {error}")
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("kafka: %s", error)
    return False


class FanoutSink:
    """The invitation fan-out (commands.fanout) fed from Kafka. Idempotent by event
    versions, so it needs no tracking of its own."""

    name = "fanout"

    def __init__(self, fanout: InvitationFanout) -> None:
        self.fanout = fanout

    def wants(self, topic: str) -> bool:
        return topic.startswith(FANOUT_TOPIC)

    def handle(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            if delivery.event is not None:
                self.fanout.process(delivery.event)

