"""Helpers for the distributed deployment's tests: settings that give each test its own
event-store schema, views schema, Kafka topic and groups and Redis prefix (so tests
share the services but never each other's state), an API server thread, and a client
that signs users up on alternating physical shards."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import redis
from confluent_kafka.admin import AdminClient
from psycopg import sql

from commands import handlers
from commands.models import CreateEvent, PatchEvent, PatchInstance, SignUp
from commands.service import CalendarStores, NotFoundError
from commands.shards import ShardMap
from domain.calendar_event import CalendarEvent
from domain.errors import DomainError, VersionConflictError
from domain.invitation import InvitationWithdrawnError
from domain.user import User
from infra.bootstrap import all_projections
from infra.distributed import PROJECTIONS, Backend, DistributedContainer
from infra.kafka_consumer import group_of
from infra.postgres import shard_dsns
from infra.postgres_views import ShardedViews
from infra.settings import Settings
from tests.api.client import Api
from tests.api.client import User as ApiUser

ROOT = Path(__file__).resolve().parents[2]
CALCTL = [sys.executable, "-m", "infra.cli"]
_emails = itertools.count()
BASE = datetime(2026, 11, 2, 9, tzinfo=UTC)


def distributed_settings(services: dict[str, str], data_dir: Path, **overrides: Any) -> Settings:
    run = uuid.uuid4().hex[:10]
    fields: dict[str, Any] = {
        "data_dir": data_dir, "secret": "test-secret-" + "x" * 40,
        "shards": services["CALENDAR_SHARDS"], "kafka_bootstrap": services[
            "CALENDAR_KAFKA_BOOTSTRAP"], "redis_url": services["CALENDAR_REDIS_URL"],
        "event_store_schema": f"es_{run}", "views_schema": f"views_{run}",
        "kafka_topic": f"calendar.{run}", "kafka_partitions": 4,
        "consumer_group_prefix": f"calendar.{run}", "redis_prefix": f"{run}:",
        "pg_pool_size": 2, **overrides}
    return Settings(**fields)


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as CALENDAR_* variables, for worker subprocesses."""
    values = settings.model_dump(exclude_none=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALENDAR_")}
    env.update({f"CALENDAR_{k.upper()}": str(v) for k, v in values.items()})
    return env


def drop_everything(settings: Settings) -> None:
    """Remove what a test created on the shared services."""
    for dsn in shard_dsns(settings.shards):
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in (settings.event_store_schema, settings.views_schema):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))
    AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).delete_topics(
        [settings.kafka_topic])
    if not settings.redis_url:
        return
    with redis.Redis.from_url(settings.redis_url) as client:
        keys = list(client.scan_iter(match=settings.redis_prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])


def email_on_shard(shard_map: ShardMap, shard: int) -> str:
    while True:
        email = f"dist{next(_emails)}-{uuid.uuid4().hex[:6]}@example.org"
        if shard_map.of_user(User.create_id(email)) == shard:
            return email


class AlternatingShardsApi(Api):
    """Signs users up on shard 0, 1, 0, ...: an organizer and their first guest are
    always on different physical shards."""

    def __init__(self, base_url: str, shard_map: ShardMap) -> None:
        super().__init__(base_url)
        self.shard_map = shard_map
        self.next_shard = itertools.cycle(range(shard_map.physical_shards))
        self.shards_used: list[int] = []
        self.views: ShardedViews | None = None  # set by a test that inspects the rows

    def sign_up(self, timezone: str = "UTC", **fields: Any) -> ApiUser:
        shard = next(self.next_shard)
        fields.setdefault("email", email_on_shard(self.shard_map, shard))
        self.shards_used.append(self.shard_map.of_user(User.create_id(fields["email"])))
        return super().sign_up(timezone, **fields)


class Worker:
    """`calctl relay|fanout|projector` as a subprocess that can be killed and restarted."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([*CALCTL, *self.args], cwd=ROOT, env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextmanager
def workers(*running: Worker) -> Iterator[tuple[Worker, ...]]:
    for worker in running:
        worker.start()
    try:
        yield running
    finally:
        for worker in running:
            worker.stop()


def wait_until(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -- a workload of commands, and what the views look like -----------------------------


class Workload:
    """Random commands through the real handlers (as in tests/projections/test_replay):
    creates, edits with guest changes, RSVPs, instance overrides and cancellations,
    organizers and guests spread over both shards."""

    def __init__(self, stores: CalendarStores, shard_map: ShardMap, seed: int,
                 users: int = 8, splits: bool = False) -> None:
        self.stores = stores
        self.rng = random.Random(seed)
        self.kinds = ["create", "create", "edit", "rsvp", "rsvp", "move", "cancel"]
        if splits:
            self.kinds += ["split", "split"]
        self.users = [handlers.sign_up(stores, SignUp(
            email=email_on_shard(shard_map, i % shard_map.physical_shards),
            timezone="Europe/Paris")) for i in range(users)]
        self.events: list[UUID] = []

    def step(self) -> None:
        kind = self.rng.choice(self.kinds)
        # A rejected command changes nothing; that is part of what is checked.
        with suppress(DomainError, VersionConflictError, NotFoundError,
                      InvitationWithdrawnError):
            getattr(self, "_" + kind)()

    def _guests(self) -> list[str]:
        return [u.email for u in self.rng.sample(self.users, self.rng.randint(0, 3))]

    def _event(self) -> CalendarEvent | None:
        if not self.events:
            return None
        return handlers.load_event(self.stores, self.rng.choice(self.events))

    def _create(self) -> None:
        start = BASE + timedelta(days=self.rng.randint(0, 20), hours=self.rng.randint(0, 8))
        # Open-ended series keep rule rows (expanded at read time) beyond the masks.
        rrule = self.rng.choice([None, None, None, "FREQ=WEEKLY;COUNT=6", "FREQ=WEEKLY"])
        event = handlers.create_event(self.stores, self.rng.choice(self.users), CreateEvent(
            title=f"e{len(self.events)}", start=start,
            end=start + timedelta(minutes=15 * self.rng.randint(1, 12)),
            rrule=rrule, guests=self._guests()))
        self.events.append(event.id)

    def _edit(self) -> None:
        event = self._event()
        if event is not None:
            start = event.details.start + timedelta(hours=self.rng.randint(-3, 3))
            handlers.patch_event(self.stores, event.organizer_id, event.id, PatchEvent(
                start=start, end=start + event.duration, guests=self._guests()),
                event.version)

    def _rsvp(self) -> None:
        event = self._event()
        if event is not None and event.guests:
            guest = UUID(self.rng.choice(list(event.guests)))
            handlers.rsvp(self.stores, guest, event.id,
                          self.rng.choice(["yes", "no", "maybe"]))

    def _move(self) -> None:
        event = self._event()
        if event is not None and event.details.rrule:
            original = event.details.start + timedelta(weeks=self.rng.randint(1, 3))
            key = original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            new_start = original + timedelta(hours=self.rng.randint(1, 5))
            handlers.override_instance(self.stores, event.organizer_id, event.id, key,
                                       PatchInstance(start=new_start,
                                                     end=new_start + event.duration),
                                       event.version)

    def _split(self) -> None:
        """This and following: one save writes two aggregates (two partitions)."""
        event = self._event()
        if event is not None and event.details.rrule:
            original = event.details.start + timedelta(weeks=self.rng.randint(1, 4))
            key = original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            start = original + timedelta(hours=self.rng.randint(-2, 2))
            following = handlers.split_following(
                self.stores, event.organizer_id, event.id, key,
                PatchEvent(title="tail", start=start, end=start + event.duration),
                event.version)
            self.events.append(following.id)

    def _cancel(self) -> None:
        event = self._event()
        if event is not None and self.rng.random() < 0.5:
            handlers.cancel_event(self.stores, event.organizer_id, event.id, None)


def snapshot(backend: Backend) -> dict[str, Any]:
    """Every view row and tracking row in every shard's views, and every free/busy key
    (masks, per-event contributions, series, event states with their change counters,
    tracking) in Redis."""
    tables: dict[str, Any] = {}
    for views in backend.views.views:
        for projection in all_projections():
            if projection.name == "freebusy" and backend.freebusy is not None:
                continue
            for table in [*projection.tables(), "tracking"]:
                rows = views.query(f"SELECT * FROM {table}")
                tables[f"{views.index}.{table}"] = sorted(rows)
    return {"views": tables, "redis": backend.freebusy.dump() if backend.freebusy else {}}


def settled(container: DistributedContainer) -> bool:
    """Everything in the logs is in Kafka and every group has consumed all of it."""
    names = [*PROJECTIONS, "fanout"]
    lags = [container.lag.lag(group_of(container.settings, n)) for n in names]
    return not any(container.relay_backlog().values()) and not any(
        lag for by_partition in lags for lag in by_partition.values())


def wait_settled(container: DistributedContainer, timeout: float = 120,
                 diagnose: Callable[[], str] = str) -> None:
    """Settled twice in a row, a moment apart (the fan-out's own writes must be relayed
    and consumed too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if settled(container):
            time.sleep(1.0)
            if settled(container):
                return
        time.sleep(0.2)
    lags = {n: container.lag.lag(group_of(container.settings, n))
            for n in [*PROJECTIONS, "fanout"]}
    raise AssertionError(f"the pipeline did not settle: relay backlog "
                         f"{container.relay_backlog()}, lags {lags}\n{diagnose()}")


def assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Snapshots equal; otherwise name the tables or keys that differ and how."""
    problems = []
    for part in ("views", "redis"):
        a, e = actual[part], expected[part]
        for name in sorted(set(a) | set(e)):
            if a.get(name) != e.get(name):
                if part == "views":
                    extra = [r for r in a.get(name, []) if r not in e.get(name, [])]
                    missing = [r for r in e.get(name, []) if r not in a.get(name, [])]
                    problems.append(f"{name}: extra {extra[:3]} missing {missing[:3]}")
                else:
                    problems.append(f"{name}: {a.get(name)!r} != {e.get(name)!r}")
    assert not problems, "\n".join(problems[:20])
