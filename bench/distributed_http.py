"""Measure the distributed deployment over real HTTP: `calctl serve --processes N` (the
API) with `calctl relay`, `calctl fanout` and `calctl projector` as separate processes, on
two PostgreSQL shards, Kafka and Redis (the services of `python -m infra.local_services up
DIR`, given as CALENDAR_SHARDS, CALENDAR_KAFKA_BOOTSTRAP and CALENDAR_REDIS_URL):

    eval "$(python -m infra.local_services up /tmp/svc | sed 's/^/export /')"
    python bench/distributed_http.py --users 200 --events 3000 --processes 2

Phases, in order, each against the same server:
1. sign-up of the users over HTTP (alternating physical shards; not timed);
2. creations with the write API alone: 4 client threads `POST /v1/events` (0-5 guests,
   10% recurring) before the pipeline processes start; then they start, and the time
   they need to catch up is noted;
3. the same creations with the pipeline running, and the time it needs afterwards to
   catch up (end-to-end rate);
4. commit-to-guest-view lag: one organizer at a time creates an event with one guest on
   the other physical shard; the clock starts when the POST is sent and stops when the
   guest's own week view (`GET /v1/calendar/view`, polled every 5 ms) lists the event;
5. week views (random user, random 2026 week) and availability (10 random users, one
   week), one client, after the pipeline has caught up;
6. everything stops and `calctl replay` (a subprocess) rebuilds every projection from
   the event stores; events/s is the count it replays over its own wall time.

Each run uses fresh schemas, topic, consumer groups and Redis prefix, and drops them.
Writes bench/results/distributed.md (p50/p99 and the machine) and prints it."""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import event_specs  # noqa: E402
from bench.measure import (  # noqa: E402
    Call,
    Phase,
    free_port,
    launch,
    machine,
    run_concurrent,
    run_phase,
    show,
    source_digest,
    stop_server,
)
from commands.shards import ShardMap  # noqa: E402
from infra.settings import Settings  # noqa: E402
from tests.services.distributed_support import (  # noqa: E402
    drop_everything,
    email_on_shard,
    settings_env,
)

RESULTS = ROOT / "bench" / "results" / "distributed.md"
WRITER_THREADS = 4
AVAILABILITY_USERS = 10
TARGET_CREATIONS_PER_S = 500.0
TARGET_LAG_P99_MS = 1000.0
TARGET_VIEW_P99_MS = 20.0
TARGET_AVAILABILITY_P99_MS = 10.0
TARGET_REPLAY_PER_S = 5000.0
ZONES = ("Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo")
LAG_POLL_SECONDS = 0.005
LAG_GIVE_UP_SECONDS = 30.0


def run_settings(tmp: Path) -> Settings:
    run = "bhttp" + uuid.uuid4().hex[:8]
    base = Settings()
    if not base.is_distributed:
        sys.exit("set CALENDAR_SHARDS, CALENDAR_KAFKA_BOOTSTRAP, CALENDAR_REDIS_URL")
    return base.model_copy(update={
        "data_dir": tmp / run, "secret": "bench-" + "x" * 40,
        "event_store_schema": f"es_{run}", "views_schema": f"views_{run}",
        "kafka_topic": f"calendar.{run}", "consumer_group_prefix": f"calendar.{run}",
        "redis_prefix": f"{run}:"})


def start_api(env: dict[str, str], port: int, processes: int,
              log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "infra.cli", "serve", "--port", str(port),
               "--processes", str(processes)]
    return launch(command, env, f"http://127.0.0.1:{port}/readyz", log, 180)


WORKERS = ("relay", "fanout", "projector")


def start_workers(env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    """The pipeline as separate processes: `calctl relay`, `calctl fanout`,
    `calctl projector` (every projection)."""
    started = []
    for name in WORKERS:
        with (logs / f"{name}.log").open("wb") as out:
            started.append(subprocess.Popen([sys.executable, "-m", "infra.cli", name],
                                            cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT))
    return started


# -- the workload ---------------------------------------------------------------------


class People:
    """Signed-up users: ids, zones, tokens, and which physical shard each lives on."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.zones: list[str] = []
        self.tokens: dict[str, str] = {}
        self.shard: dict[str, int] = {}

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def on(self, shard: int) -> list[str]:
        return [u for u in self.ids if self.shard[u] == shard]


def sign_up(client: httpx.Client, settings: Settings, count: int) -> People:
    people = People()
    shard_map = ShardMap(len(settings.shards.split(",")), settings.logical_shards)
    for i in range(count):
        zone = ZONES[i % len(ZONES)]
        body = {"email": email_on_shard(shard_map, i % 2), "timezone": zone}
        response = client.post("/v1/users", json=body)
        response.raise_for_status()
        found = response.json()
        people.ids.append(found["user_id"])
        people.zones.append(zone)
        people.tokens[found["user_id"]] = found["token"]
        people.shard[found["user_id"]] = i % 2
    return people


def creations(people: People, seed: int) -> Iterator[Call]:
    for organizer, fields in event_specs(people.ids, people.zones, seed):
        body = {k: v.isoformat() if isinstance(v, date) else v for k, v in fields.items()}
        yield Call("POST", "/v1/events", {"json": body,
                                          "headers": people.auth(people.ids[organizer])})


def random_day(rng: random.Random) -> date:
    return date(2026, 1, 1) + timedelta(days=rng.randrange(365))


def week_views(people: People, rng: random.Random) -> Iterator[Call]:
    while True:
        user = rng.choice(people.ids)
        yield Call("GET", "/v1/calendar/view", {
            "params": {"view": "week", "date": random_day(rng).isoformat()},
            "headers": people.auth(user)})


def availability_queries(people: People, rng: random.Random) -> Iterator[Call]:
    while True:
        monday = random_day(rng)
        monday -= timedelta(days=monday.weekday())
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        body = {"user_ids": rng.sample(people.ids, AVAILABILITY_USERS),
                "start": start.isoformat(), "end": (start + timedelta(days=7)).isoformat()}
        yield Call("POST", "/v1/availability", {"json": body,
                                                "headers": people.auth(rng.choice(people.ids))})


def guest_lag(client: httpx.Client, people: People, samples: int,
              rng: random.Random) -> Phase:
    """From sending the organizer's POST until the guest's (other shard) week view has it."""
    organizers, guests = people.on(0), people.on(1)
    lags: list[float] = []
    errors = 0
    started = time.perf_counter()
    for i in range(samples):
        if i % 2:
            organizer, guest = rng.choice(guests), rng.choice(organizers)
        else:
            organizer, guest = rng.choice(organizers), rng.choice(guests)
        day = random_day(rng)
        begins = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
        body = {"title": f"lag {i}", "start": begins.isoformat(),
                "end": (begins + timedelta(minutes=30)).isoformat(), "guests": [guest]}
        sent = time.perf_counter()
        response = client.post("/v1/events", json=body, headers=people.auth(organizer))
        if response.status_code != 201:
            errors += 1
            continue
        event_id = response.json()["event_id"]
        params = {"start": begins.isoformat(),
                  "end": (begins + timedelta(hours=1)).isoformat()}
        while time.perf_counter() - sent < LAG_GIVE_UP_SECONDS:
            view = client.get("/v1/calendar/view", params=params, headers=people.auth(guest))
            if any(item["event_id"] == event_id for item in view.json().get("items", [])):
                lags.append(time.perf_counter() - sent)
                break
            time.sleep(LAG_POLL_SECONDS)
        else:
            errors += 1
    return Phase("commit-to-guest-view lag", lags, time.perf_counter() - started, errors)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time spent by every process on the machine so far (busy, not idle)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def caught_up(client: httpx.Client, timeout: float = 300) -> float:
    """Wait until /metrics shows no relay backlog, consumer lag or projection lag."""
    started = time.monotonic()
    pattern = re.compile(r"^calendar_(relay_backlog|consumer_lag)\{[^}]*\} (\S+)$", re.M)
    while time.monotonic() - started < timeout:
        text = client.get("/metrics").text
        if all(float(v) == 0 for _, v in pattern.findall(text)):
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError("the pipeline did not catch up")


def replay(env: dict[str, str], profile: Path | None = None) -> tuple[int, float, float]:
    """(events replayed, wall seconds of the command, seconds it reports for the replay
    itself, without process start and connecting). With `profile`, under cProfile."""
    command = [sys.executable, "-m", "infra.cli", "replay"]
    if profile is not None:
        command[1:1] = ["-m", "cProfile", "-o", str(profile)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    wall = time.perf_counter() - started
    found = re.search(r"replayed (\d+) events .* in ([\d.]+) s", done.stdout)
    if found is None:
        sys.exit(f"unexpected replay output: {done.stdout[-500:]}")
    return int(found.group(1)), wall, float(found.group(2))


# -- the run --------------------------------------------------------------------------


def measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    env = settings_env(settings)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = start_api(env, port, args.processes, settings.data_dir / "server.log")
    print(f"server up on {base_url} (logs in {settings.data_dir})", flush=True)
    rng = random.Random(args.seed)
    found: dict[str, Any] = {}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            people = sign_up(client, settings, args.users)
            api_before = machine_cpu_seconds()
            found["api_alone"] = create_phase("create, pipeline not running", base_url,
                                              people, args, 0)
            found["api_cpu"] = machine_cpu_seconds() - api_before
            machine_before = machine_cpu_seconds()
            workers = start_workers(env, settings.data_dir)
            found["pipeline_drain"] = caught_up(client)
            found["cpu"] = {**{name: process_cpu_seconds(w.pid)
                               for name, w in zip(WORKERS, workers, strict=True)},
                            "machine": machine_cpu_seconds() - machine_before}
            print(f"pipeline started and caught up in {found['pipeline_drain']:.1f} s",
                  flush=True)
            found["create"] = create_phase("create, pipeline running", base_url, people,
                                           args, 1)
            found["drain"] = caught_up(client)
            print(f"pipeline caught up {found['drain']:.1f} s after the creations", flush=True)
            found["lag"] = guest_lag(client, people, args.lag_samples, rng)
            show(found["lag"])
            caught_up(client)
            found["view"] = run_phase("week view", client, week_views(people, rng),
                                      args.warmup, args.requests, args.duration)
            show(found["view"])
            found["items"] = items_note(client, people)
            found["availability"] = run_phase(
                "availability", client, availability_queries(people, rng), args.warmup,
                args.requests, args.duration)
            show(found["availability"])
    finally:
        for process in [server, *workers]:
            stop_server(process)
    found["replay"] = replay(env)
    print(f"replay: {found['replay']}", flush=True)
    if args.profile_replay is not None:
        print(f"profiled replay: {replay(env, args.profile_replay)}", flush=True)
    return found


def create_phase(name: str, base_url: str, people: People, args: argparse.Namespace,
                 round_: int) -> Phase:
    phase = run_concurrent(f"{name} ({WRITER_THREADS} clients)", base_url,
                           lambda i: creations(people, args.seed * 100 + 10 * round_ + i),
                           WRITER_THREADS, args.events, args.duration)
    show(phase)
    return phase


def items_note(client: httpx.Client, people: People, sample: int = 100) -> str:
    calls = week_views(people, random.Random(1))
    counts = []
    for _ in range(sample):
        call = next(calls)
        counts.append(len(client.request(call.method, call.url, **call.kwargs).json()["items"]))
    return f"{sum(counts) / len(counts):.1f} instances on average (max {max(counts)})"


def row(what: str, phase: Phase, throughput: str, target: str, met: bool) -> str:
    errors = f" ({phase.errors} errors)" if phase.errors else ""
    return (f"| {what} | {len(phase.latencies)}{errors} | {phase.percentile(50):.1f} |"
            f" {phase.percentile(99):.1f} | {throughput} | {target} |"
            f" {'yes' if met else '**no**'} |")


def report(found: dict[str, Any], args: argparse.Namespace, info: dict[str, str]) -> str:
    alone, create, lag, view, avail = (found[k] for k in (
        "api_alone", "create", "lag", "view", "availability"))
    count, wall, inside = found["replay"]
    replay_rate = count / inside
    end_to_end = len(create.latencies) / (create.wall + found["drain"])
    end_load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "# Distributed deployment: HTTP benchmark", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python bench/distributed_http.py"
        f" --users {args.users} --events {args.events} --requests {args.requests}"
        f" --lag-samples {args.lag_samples} --processes {args.processes}` against"
        f" `calctl serve --processes {args.processes}` (the API) with `calctl relay`,"
        " `calctl fanout` and `calctl projector` as three more processes, on the services"
        " of `python -m infra.local_services up` (PostgreSQL with 2 shard databases and"
        " `fsync = off`, one Kafka broker, Redis), all on this machine with the benchmark"
        " clients.", "",
        "| Measurement | Samples | p50 ms | p99 ms | Throughput | Target | Met |",
        "|---|---:|---:|---:|---:|---|---|",
        row(f"Create event `POST /v1/events` (0-5 guests, 10% recurring), {WRITER_THREADS}"
            " client threads, **write API alone** (pipeline processes not started yet; they"
            f" caught up {found['pipeline_drain']:.1f} s after they started)", alone,
            f"{alone.rate:.0f} events/s", f">= {TARGET_CREATIONS_PER_S:g}/s",
            alone.rate >= TARGET_CREATIONS_PER_S),
        row("The same **with the pipeline running** on the same two cores (end to end,"
            f" counting the {found['drain']:.1f} s it needed afterwards to catch up:"
            f" {end_to_end:.0f} events/s)", create, f"{create.rate:.0f} events/s",
            f">= {TARGET_CREATIONS_PER_S:g}/s", create.rate >= TARGET_CREATIONS_PER_S),
        row("Commit-to-guest-view lag (POST sent -> guest on the other shard sees it in"
            " their calendar view, polled over HTTP every 5 ms)", lag, "-",
            f"p99 <= {TARGET_LAG_P99_MS:g} ms", lag.percentile(99) <= TARGET_LAG_P99_MS),
        row("Week view `GET /v1/calendar/view?view=week` (random user and 2026 week)", view,
            f"{view.rate:.0f} req/s", f"p99 <= {TARGET_VIEW_P99_MS:g} ms",
            view.percentile(99) <= TARGET_VIEW_P99_MS),
        row(f"Availability `POST /v1/availability` ({AVAILABILITY_USERS} random users,"
            " 1 week, masks in Redis)", avail, f"{avail.rate:.0f} req/s",
            f"p99 <= {TARGET_AVAILABILITY_P99_MS:g} ms",
            avail.percentile(99) <= TARGET_AVAILABILITY_P99_MS),
        f"| `calctl replay` (every projection, both shards, as the command reports it; over"
        f" the command's whole wall time incl. process start: {count / wall:,.0f}/s) |"
        f" {count} events | - | - | {replay_rate:,.0f} events/s |"
        f" >= {TARGET_REPLAY_PER_S:,.0f}/s |"
        f" {'yes' if replay_rate >= TARGET_REPLAY_PER_S else '**no**'} |",
        "",
        cpu_note(found, len(alone.latencies)), "",
        "The lag, view and availability phases ran with the pipeline caught up and no other"
        " load from the benchmark (the machine is shared: see the load average);"
        f" week views returned {found['items']}. The authors' reads include the"
        " read-your-own-writes check (their positions from the views database of their"
        " shard, then one tracking query per views database and Redis).",
        "",
        f"**Dataset:** {args.users} users (half per physical shard, 4 time zones),"
        f" {len(alone.latencies) + len(create.latencies) + len(lag.latencies)} events"
        " created over HTTP.", "",
        "**Machine:** " + ", ".join(f"{k} {v}" for k, v in info.items())
        + f", load average at the end {end_load}.", "",
        f"**Code measured:** application sources {source_digest()}.", ""]
    return "\n".join(lines)


def cpu_note(found: dict[str, Any], events: int) -> str:
    """Where the CPU went while the pipeline caught up with the first creations."""
    cpu = found["cpu"]
    per = {name: cpu[name] / events * 1000 for name in WORKERS}
    rest = (cpu["machine"] - sum(cpu[name] for name in WORKERS)) / events * 1000
    total = cpu["machine"] / events * 1000
    cores = os.cpu_count() or 1
    parts = ", ".join(f"{name} {ms:.1f}" for name, ms in per.items())
    api = found["api_cpu"] / events * 1000
    return (f"**CPU per creation.** The first phase (write API alone) used"
            f" {found['api_cpu']:.1f} CPU-seconds on the machine, {api:.1f} CPU-ms per"
            " creation (API processes, PostgreSQL, the benchmark's own clients)."
            f" Catching up with those {events} creations afterwards"
            f" took the pipeline {found['pipeline_drain']:.1f} s and {cpu['machine']:.1f}"
            f" CPU-seconds: per creation (its event and its invitations) {parts}, and"
            f" {rest:.1f} CPU-ms for everything else (PostgreSQL, Kafka, Redis, the idle"
            f" API), {total:.1f} CPU-ms in all. So {cores} cores carry at most about"
            f" {cores * 1000 / (api + total):.0f} creations/s end to end"
            f" ({cores} x 1000 / ({api:.1f} + {total:.1f})); 500/s needs about"
            f" {500 * (api + total) / 1000:.1f} such cores.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--lag-samples", type=int, default=100)
    parser.add_argument("--duration", type=float, default=120,
                        help="cap in seconds on each measured phase")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--processes", type=int, default=2,
                        help="API processes (calctl serve --processes)")
    parser.add_argument("--tmp", type=Path, default=Path("/tmp"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--profile-replay", type=Path,
                        help="also run the replay under cProfile, writing this file")
    args = parser.parse_args()
    settings = run_settings(args.tmp)
    info = machine()
    try:
        found = measure(settings, args)
    finally:
        drop_everything(settings)
    text = report(found, args, info)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
