"""The services started by infra/local_services/ really work, as the app will use them.

Each test uses its own table, keys, topic and consumer group, so the suite can share one
set of services with other tests (and with other sessions pointed at the same servers).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # NewTopic: not in __all__
    AdminClient,
    NewTopic,
)
from psycopg import sql

from infra import local_services
from infra.local_services import SETTING_KEYS, STATE_FILE, down, parse_settings, up

pytestmark = pytest.mark.services


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def test_settings_have_the_documented_shape(services: dict[str, str]) -> None:
    assert set(services) == set(SETTING_KEYS)
    shards = services["CALENDAR_SHARDS"].split(",")
    assert len(shards) == 2
    assert all(dsn.startswith("postgresql://") for dsn in shards)
    assert services["CALENDAR_REDIS_URL"].startswith("redis://127.0.0.1:")
    assert services["CALENDAR_KAFKA_BOOTSTRAP"].startswith("127.0.0.1:")


def test_each_shard_is_its_own_database(services: dict[str, str]) -> None:
    shard_0, shard_1 = services["CALENDAR_SHARDS"].split(",")
    table = sql.Identifier(_unique("probe"))
    with (
        psycopg.connect(shard_0, autocommit=True) as db0,
        psycopg.connect(shard_1, autocommit=True) as db1,
    ):
        names = {
            db.execute("SELECT current_database(), current_user").fetchone() for db in (db0, db1)
        }
        assert names == {("calendar_shard_0", "calendar"), ("calendar_shard_1", "calendar")}
        for db in (db0, db1):
            db.execute(sql.SQL("CREATE TABLE {} (id uuid PRIMARY KEY, body text)").format(table))
        try:
            row_id = uuid.uuid4()
            with db0.transaction():
                db0.execute(
                    sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table), (row_id, "hello")
                )
            read = sql.SQL("SELECT id, body FROM {}").format(table)
            assert db0.execute(read).fetchall() == [(row_id, "hello")]
            assert db1.execute(read).fetchall() == []
        finally:
            for db in (db0, db1):
                db.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))


def test_redis_set_get_and_transaction(services: dict[str, str]) -> None:
    key, counter = _unique("probe"), _unique("counter")
    with redis.Redis.from_url(services["CALENDAR_REDIS_URL"]) as client:
        try:
            assert client.set(key, "value")
            assert client.get(key) == b"value"
            with client.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.incrby(counter, 41)
                pipe.get(counter)
                assert pipe.execute() == [1, 42, b"42"]
            info = client.info("persistence")
            assert info["aof_enabled"] == 1
        finally:
            client.delete(key, counter)


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    futures[topic].result(timeout=30)


def _produce(bootstrap: str, topic: str, messages: list[tuple[str, str]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            errors.append(error)

    for key, value in messages:
        producer.produce(topic, key=key, value=value, on_delivery=delivered)
    assert producer.flush(30) == 0
    assert errors == []


def _consume(bootstrap: str, topic: str, count: int) -> list[tuple[str, str]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": _unique("probe-group"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: list[tuple[str, str]] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            key, value = message.key(), message.value()
            assert isinstance(key, bytes) and isinstance(value, bytes)
            received.append((key.decode(), value.decode()))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return received


def test_kafka_round_trip_with_idempotent_producer(services: dict[str, str]) -> None:
    bootstrap = services["CALENDAR_KAFKA_BOOTSTRAP"]
    topic = _unique("probe-topic")
    messages = [(f"aggregate-{index}", f"event-{index}") for index in range(10)]
    _create_topic(bootstrap, topic)
    _produce(bootstrap, topic, messages)
    assert _consume(bootstrap, topic, len(messages)) == messages
    AdminClient({"bootstrap.servers": bootstrap}).delete_topics([topic])


def _pid_files(base_dir: Path) -> dict[str, str]:
    files = [base_dir / "pg/data/postmaster.pid", base_dir / "redis/redis.pid"]
    files.append(base_dir / "kafka/kafka.pid")
    return {file.name: file.read_text().splitlines()[0] for file in files}


def test_up_is_idempotent_and_down_stops_everything(tmp_path: Path) -> None:
    """A second ``up`` on a running directory returns the same settings, starts nothing."""
    base_dir = tmp_path / "services"
    try:
        first = up(base_dir)
        pids = _pid_files(base_dir)
        second = up(base_dir)
        assert second == first
        assert _pid_files(base_dir) == pids
        assert parse_settings((base_dir / STATE_FILE).read_text()) == first
    finally:
        down(base_dir)
    assert not (base_dir / STATE_FILE).exists()
    assert not any(local_services._pid_alive(int(pid)) for pid in pids.values())
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(first["CALENDAR_SHARDS"].split(",")[0], connect_timeout=2)
    with (
        pytest.raises(redis.ConnectionError),
        redis.Redis.from_url(first["CALENDAR_REDIS_URL"]) as client,
    ):
        client.ping()
    down(base_dir)  # idempotent: nothing left to stop
