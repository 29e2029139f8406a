"""Measure the distributed deployment's pipeline stage by stage, on real PostgreSQL,
Kafka and Redis (the services of `calctl infra up`, given as CALENDAR_SHARDS,
CALENDAR_KAFKA_BOOTSTRAP and CALENDAR_REDIS_URL):

    python -m infra.local_services up /tmp/svc    # prints the three settings; export them
    python bench/distributed.py --users 200 --events 5000

Stage times run from the workers' start, consumer-group joins included.
Each run uses fresh schemas, topic, groups and Redis prefix, and drops them at the end.
Stages, each timed alone so its rate is its own: writes through the command handlers
into the two shards; the relay draining the logs into Kafka; the fan-out writing the
invitations (and the relay publishing those); the four projectors in parallel; then,
with everything running, the latency of one write as its author and its guest see it;
reads on the PostgreSQL views and the Redis masks; and `replay` into fresh views.
Writes bench/results/distributed-pipeline.md and prints it (bench/distributed_http.py
measures the same deployment over HTTP into bench/results/distributed.md)."""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commands import handlers  # noqa: E402
from commands.models import CreateEvent, SignUp  # noqa: E402
from domain.user import User  # noqa: E402
from infra.distributed import (  # noqa: E402
    PROJECTIONS,
    Backend,
    DistributedContainer,
    Workers,
    distributed,
    replay,
)
from infra.kafka_consumer import group_of  # noqa: E402
from infra.settings import Settings  # noqa: E402
from read_api import queries  # noqa: E402
from read_api.queries import Window  # noqa: E402
from tests.services.distributed_support import drop_everything, email_on_shard  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "distributed-pipeline.md"
BASE = datetime(2026, 1, 5, 8, tzinfo=UTC)
LOAD_AT_START = " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings, check = run_settings()
    rows: list[tuple[str, str]] = []
    try:
        measure(settings, check, args, rows)
    finally:
        drop_everything(settings)
        drop_everything(check)
    write(rows, args)
    return 0


def run_settings() -> tuple[Settings, Settings]:
    run = "bench" + uuid.uuid4().hex[:8]
    base = Settings()
    if not base.is_distributed:
        sys.exit("set CALENDAR_SHARDS, CALENDAR_KAFKA_BOOTSTRAP, CALENDAR_REDIS_URL")
    settings = base.model_copy(update={
        "data_dir": Path(f"/tmp/{run}"), "secret": "bench-" + "x" * 40,
        "event_store_schema": f"es_{run}", "views_schema": f"views_{run}",
        "kafka_topic": f"calendar.{run}", "consumer_group_prefix": f"calendar.{run}",
        "redis_prefix": f"{run}:", "ryow_timeout_seconds": 30.0})
    check = settings.model_copy(update={"views_schema": f"check_{run}",
                                        "redis_prefix": f"{run}check:"})
    return settings, check


def measure(settings: Settings, check: Settings, args: argparse.Namespace,
            rows: list[tuple[str, str]]) -> None:
    c = distributed(settings)
    rng = random.Random(args.seed)
    users = load(c, args, rng, rows)
    written = notifications(c)
    stage(c, rows, "relay: logs -> Kafka", written, relay=True)
    stage(c, rows, "fan-out: invitations written (and relayed)", None, fanout=True)
    total = notifications(c)
    stage(c, rows, "4 projectors in parallel (PG views + Redis)", total * len(PROJECTIONS),
          projections=PROJECTIONS)
    everything = Workers.of(c.backend, projections=PROJECTIONS)
    everything.start()
    wait(lambda: ready(everything), 60)
    latencies(c, users, args.samples, rng, rows)
    reads(c, users, args.samples, rng, rows)
    everything.stop()
    fresh = Backend(check)
    started = time.monotonic()
    count = replay(fresh, PROJECTIONS, None, lambda _: None)
    elapsed = time.monotonic() - started
    rows.append(("replay: 4 projections from the event stores",
                 f"{count} notifications in {elapsed:.1f} s ({count / elapsed:,.0f}/s)"))
    fresh.close()
    c.close()


def load(c: DistributedContainer, args: argparse.Namespace, rng: random.Random,
         rows: list[tuple[str, str]]) -> list[User]:
    shard_map = c.backend.shard_map
    users = [handlers.sign_up(c.stores, SignUp(
        email=email_on_shard(shard_map, i % 2), timezone="Europe/Berlin"))
        for i in range(args.users)]
    started = time.monotonic()
    for i in range(args.events):
        create(c, rng.choice(users), rng.sample(users, rng.randint(0, 3)), i, rng)
    elapsed = time.monotonic() - started
    rows.append(("writes: create event (0-3 guests), 1 thread, handlers -> 2 PG shards",
                 f"{args.events} in {elapsed:.1f} s ({args.events / elapsed:,.0f} events/s)"))
    return users


def create(c: DistributedContainer, organizer: User, guests: list[User], i: int,
           rng: random.Random) -> Any:
    start = BASE + timedelta(days=rng.randint(0, 300), minutes=15 * rng.randint(0, 40))
    return handlers.create_event(c.stores, organizer, CreateEvent(
        title=f"bench {i}", start=start, end=start + timedelta(minutes=30),
        rrule="FREQ=WEEKLY;COUNT=10" if rng.random() < 0.1 else None,
        guests=[g.email for g in guests if g.id != organizer.id]))


def stage(c: DistributedContainer, rows: list[tuple[str, str]], name: str,
          messages: int | None, relay: bool = False, fanout: bool = False,
          projections: tuple[str, ...] = ()) -> None:
    """Start only this stage's workers (plus the relay for the fan-out's own writes)
    and time it, from start (consumer group joins included), until the backlog it works
    on is gone."""
    workers = Workers.of(c.backend, relay=relay or fanout, fanout=fanout,
                         projections=projections)
    before = notifications(c)
    started = time.monotonic()
    workers.start()
    names = ["fanout"] if fanout else list(projections)
    wait(lambda: drained(c, names), 3600)
    elapsed = time.monotonic() - started
    workers.stop()
    done = messages if messages is not None else notifications(c) - before
    unit = "messages" if projections else "notifications"
    rows.append((name, f"{done} {unit} in {elapsed:.1f} s ({done / elapsed:,.0f}/s)"))


def latencies(c: DistributedContainer, users: list[User], samples: int, rng: random.Random,
              rows: list[tuple[str, str]]) -> None:
    """One write at a time: the handler's latency, the author's read-your-own-writes wait
    (week view projection), and the time until the guest's inbox shows the invitation
    (relay -> Kafka -> fan-out -> relay -> Kafka -> inbox projector)."""
    write, own, guest = [], [], []
    for i in range(samples):
        organizer = users[2 * rng.randrange(len(users) // 2)]
        invitee = users[2 * rng.randrange(len(users) // 2) + 1]
        started = time.monotonic()
        event = create(c, organizer, [invitee], i, rng)
        written = time.monotonic()
        c.own_writes.wait(organizer.id, ["calendar"])
        seen = time.monotonic()
        inbox_row = ("SELECT 1 FROM inbox WHERE event_id = ? AND guest_id = ?",
                     (str(event.id), str(invitee.id)))
        wait(partial(lambda sql, params: bool(c.views.query(sql, params)), *inbox_row),
             30, pause=0.002)
        invited = time.monotonic()
        write.append(written - started)
        own.append(seen - written)
        guest.append(invited - written)
    rows.append(("latency: create event (handler, PG shard)", pct(write)))
    rows.append(("latency: author's own write in the views (RYOW wait)", pct(own)))
    rows.append(("latency: guest on the other shard sees the invitation", pct(guest)))


def reads(c: DistributedContainer, users: list[User], samples: int, rng: random.Random,
          rows: list[tuple[str, str]]) -> None:
    week, busy = [], []
    zone = ZoneInfo("Europe/Berlin")
    for _ in range(samples):
        start = BASE + timedelta(weeks=rng.randint(0, 40))
        window = Window(start, start + timedelta(days=7))
        started = time.monotonic()
        queries.calendar_view(c.views, str(rng.choice(users).id), window, zone, None, False)
        week.append(time.monotonic() - started)
        ids = [str(u.id) for u in rng.sample(users, 10)]
        started = time.monotonic()
        queries.busy_masks(c.busy_store, ids, window)
        busy.append(time.monotonic() - started)
    rows.append(("read: week view query (gathers from both shards' views)", pct(week)))
    rows.append(("read: busy masks of 10 users for a week (Redis)", pct(busy)))


def notifications(c: DistributedContainer) -> int:
    return sum(len(s.recorder.select_notifications(1, 10**7)) for s in c.backend.shards)


def drained(c: DistributedContainer, names: list[str]) -> bool:
    groups = [group_of(c.settings, n) for n in names]
    return not any(c.relay_backlog().values()) and not any(
        lag for g in groups for lag in c.lag.lag(g).values())


def ready(workers: Workers) -> bool:
    try:
        workers.check_ready()
    except RuntimeError:
        return False
    return True


def wait(probe: Callable[[], bool], timeout: float, pause: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark stage did not finish")
        time.sleep(pause)


def pct(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (f"p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"
            f" ({len(ms)} samples)")


def write(rows: list[tuple[str, str]], args: argparse.Namespace) -> None:
    lines = [
        "# Distributed deployment: pipeline benchmark", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python bench/distributed.py"
        f" --users {args.users} --events {args.events} --samples {args.samples}`"
        " against `calctl infra up` services (PostgreSQL with 2 shard databases, one Kafka"
        " broker, Redis), all on this machine with the benchmark itself.", "",
        "| Stage | Result |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows], "",
        f"**Machine:** nproc {os.cpu_count()},"
        f" Python {platform.python_version()}, {platform.system()} {platform.release()},"
        f" load average at start {LOAD_AT_START}.",
        "Kafka topic: 8 partitions; consumers fetch batches of up to 500 messages; each"
        " projector batch commits per views database in one SERIALIZABLE transaction.", ""]
    text = "\n".join(lines)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
