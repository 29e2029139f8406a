"""Measure `calctl replay` alone in the distributed deployment (real PostgreSQL, Kafka,
Redis: the services of `python -m infra.local_services up DIR`, given as CALENDAR_SHARDS,
CALENDAR_KAFKA_BOOTSTRAP and CALENDAR_REDIS_URL):

    python bench/replay.py --users 200 --events 3000 --runs 3

Loads a seeded dataset into fresh schemas straight through the command handlers (no
HTTP, no Kafka): sign-ups on alternating physical shards, creations as in
bench/distributed_http.py (bench.load.event_specs: 0-5 guests, 10% recurring), the
invitation fan-out run in-process over the logs, then `--edits` edits (new time, guest
changes) fanned out again and `--rsvps` answers (a third each yes/no/maybe). Then runs
`python -m infra.cli replay` as a subprocess `--runs` times and reports events/s as the
command reports it and over the command's whole wall time (process start included).

`--code-root DIR` runs the replay command from another checkout of the project (e.g.
`git archive HEAD | tar -x -C /tmp/base`); given twice, the runs alternate between the
two, so before and after are measured on the same dataset at the same time. `--check`
requires every run to leave the same view rows, tracking rows and Redis keys (with two
roots: the old and the new code agree).

Fresh schemas, topic and Redis prefix per run of this script, dropped at the end unless
`--keep` (which prints the name that `--reuse NAME` replays again without loading)."""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import event_specs  # noqa: E402
from commands import handlers  # noqa: E402
from commands.fanout import InvitationFanout  # noqa: E402
from commands.models import CreateEvent, PatchEvent, SignUp  # noqa: E402
from domain.errors import DomainError, VersionConflictError  # noqa: E402
from domain.user import User  # noqa: E402
from infra.distributed import DistributedContainer, distributed  # noqa: E402
from infra.settings import Settings  # noqa: E402
from tests.services.distributed_support import (  # noqa: E402
    drop_everything,
    email_on_shard,
    settings_env,
    snapshot,
)

ZONES = ("Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo")


def run_settings(reuse: str | None) -> Settings:
    run = reuse or "brep" + uuid.uuid4().hex[:8]
    base = Settings()
    if not base.is_distributed:
        sys.exit("set CALENDAR_SHARDS, CALENDAR_KAFKA_BOOTSTRAP, CALENDAR_REDIS_URL")
    return base.model_copy(update={
        "data_dir": Path(f"/tmp/{run}"), "secret": "bench-" + "x" * 40,
        "event_store_schema": f"es_{run}", "views_schema": f"views_{run}",
        "kafka_topic": f"calendar.{run}", "consumer_group_prefix": f"calendar.{run}",
        "redis_prefix": f"{run}:"})


# -- the dataset ----------------------------------------------------------------------


def load(c: DistributedContainer, args: argparse.Namespace) -> dict[str, int]:
    rng = random.Random(args.seed)
    shard_map = c.backend.shard_map
    users: list[User] = [handlers.sign_up(c.stores, SignUp(
        email=email_on_shard(shard_map, i % 2), timezone=ZONES[i % len(ZONES)]))
        for i in range(args.users)]
    specs = event_specs([str(u.id) for u in users], [u.timezone for u in users], args.seed)
    events = []
    for _ in range(args.events):
        organizer, fields = next(specs)
        events.append(handlers.create_event(c.stores, users[organizer], CreateEvent(**fields)))
    fanout = InvitationFanout(c.stores)
    positions = fan_out(c, fanout, {})
    for _ in range(args.edits):
        event = handlers.load_event(c.stores, rng.choice(events).id)
        if event.cancelled or event.details.all_day:
            continue
        start = event.details.start + (rng.randint(-8, 8) or 1) * (event.details.end -
                                                                   event.details.start)
        guests = [str(g) for g in event.guests]
        if guests and rng.random() < 0.5:
            guests.pop(rng.randrange(len(guests)))
        if rng.random() < 0.5:
            guests.append(str(rng.choice(users).id))
        guests = [g for g in dict.fromkeys(guests) if g != str(event.organizer_id)]
        try:
            handlers.patch_event(c.stores, event.organizer_id, event.id, PatchEvent(
                start=start, end=start + event.duration, guests=guests), event.version)
        except (DomainError, VersionConflictError):
            continue
    positions = fan_out(c, fanout, positions)
    answered = 0
    while answered < args.rsvps:
        event = handlers.load_event(c.stores, rng.choice(events).id)
        if not event.guests or event.cancelled:
            continue
        guest = UUID(rng.choice(list(event.guests)))
        handlers.rsvp(c.stores, guest, event.id, rng.choice(["yes", "no", "maybe"]))
        answered += 1
    counts: dict[str, int] = {}
    for shard in c.backend.shards:
        for n in shard.recorder.select_notifications(1, 10**7):
            kind = n.topic.rsplit(":", 1)[-1]
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def fan_out(c: DistributedContainer, fanout: InvitationFanout,
            positions: dict[int, int]) -> dict[int, int]:
    """Run the fan-out over every shard's log until it writes nothing new."""
    while True:
        progressed = False
        for shard in c.backend.shards:
            found = shard.recorder.select_notifications(positions.get(shard.index, 0), 1000,
                                                        inclusive_of_start=False)
            for n in found:
                fanout.process(shard.mapper.to_domain_event(n))
                positions[shard.index] = n.id
                progressed = True
        if not progressed:
            return positions


# -- the replay -----------------------------------------------------------------------


def replay(env: dict[str, str], code_root: Path) -> tuple[int, float, float]:
    """(events replayed, wall seconds of the command, seconds it reports)."""
    env = {**env, "PYTHONPATH": str(code_root)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "infra.cli", "replay"], cwd=code_root,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"replay failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    found = re.search(r"replayed (\d+) events .* in ([\d.]+) s", done.stdout)
    if found is None:
        sys.exit(f"unexpected replay output: {done.stdout[-500:]}")
    return int(found.group(1)), wall, float(found.group(2))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--rsvps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code-root", type=Path, action="append",
                        help="checkouts whose `calctl replay` to run, in turn (default:"
                             " this one); given twice, runs alternate A, B, A, B...")
    parser.add_argument("--keep", action="store_true",
                        help="keep the dataset (prints its run name for --reuse)")
    parser.add_argument("--reuse", metavar="RUN", help="replay a dataset kept by --keep")
    parser.add_argument("--check", action="store_true",
                        help="every run must leave the same views, tracking and Redis keys")
    args = parser.parse_args()
    roots: list[Path] = [r.resolve() for r in (args.code_root or [ROOT])]
    settings = run_settings(args.reuse)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    c = distributed(settings)
    try:
        if args.reuse is None:
            started = time.perf_counter()
            counts = load(c, args)
            print(f"loaded in {time.perf_counter() - started:.1f} s: {sum(counts.values())}"
                  f" notifications {dict(sorted(counts.items()))}", flush=True)
        if args.keep:
            print(f"dataset kept: --reuse {settings.redis_prefix[:-1]}", flush=True)
        env = settings_env(settings)
        results: dict[Path, list[tuple[int, float, float]]] = {r: [] for r in roots}
        first: dict[str, Any] | None = None
        for i in range(args.runs):
            for root in roots:
                found = replay(env, root)
                results[root].append(found)
                count, wall, inside = found
                print(f"run {i + 1} {root}: {count} events in {inside:.2f} s"
                      f" ({count / inside:,.0f} events/s as reported; wall {wall:.2f} s,"
                      f" {count / wall:,.0f}/s)", flush=True)
                if args.check:
                    now = snapshot(c.backend)
                    if first is None:
                        first = now
                    elif now != first:
                        sys.exit(f"run {i + 1} from {root} left other views than the first")
        for root, runs in results.items():
            rates = [n / t for n, t, _ in runs]
            reported = [n / t for n, _, t in runs]
            print(f"{root}: median {statistics.median(reported):,.0f} events/s as reported"
                  f" (runs {', '.join(f'{r:,.0f}' for r in reported)}); over wall time"
                  f" {statistics.median(rates):,.0f}/s; load average"
                  f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.check:
            print("every run left the same views, tracking rows and Redis keys")
    finally:
        c.close()
        if not args.keep:
            drop_everything(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
