"""Measure the embedded server over real HTTP: week views, availability, event creation.

Starts `calctl serve` on a copy of the data directory (so repeated runs read the same
dataset and the creations never pile up in it), waits for /healthz, signs tokens with the
directory's secret, and measures with one keep-alive httpx client per thread:

    python bench/measure.py --data-dir bench/results/data --duration 30

Writes the results table to bench/results/embedded.md and prints it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import MANIFEST, event_specs  # noqa: E402
from infra.auth import TokenIssuer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "embedded.md"
TARGET_VIEW_P99_MS = 20.0
TARGET_AVAILABILITY_P99_MS = 20.0
TARGET_CREATIONS_PER_S = 300.0
WRITER_THREADS = 4
AVAILABILITY_USERS = 10
APP_PACKAGES = ("domain", "commands", "projections", "read_api", "infra")


@dataclass
class Phase:
    name: str
    latencies: list[float]  # seconds
    wall: float
    errors: int
    note: str = ""

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000

    @property
    def mean_ms(self) -> float:
        return sum(self.latencies) / len(self.latencies) * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    calctl = shutil.which("calctl")
    command = [calctl] if calctl else [sys.executable, "-m", "infra.cli"]
    command += ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    return launch(command, None, f"http://127.0.0.1:{port}/healthz", log, 120)


def launch(command: list[str], env: dict[str, str] | None, probe: str, log: Path,
           seconds: float) -> subprocess.Popen[bytes]:
    """Start the server and wait until `probe` answers 200 (exit if it never does)."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with {process.returncode}; see {log}")
        try:
            if httpx.get(probe, timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    sys.exit(f"the server did not answer {probe} within {seconds:.0f} s; see {log}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request to make: the same workload drives the sync HTTP client here and the
    in-process async client of bench/profile.py."""

    method: str
    url: str
    kwargs: dict[str, Any]


def send(client: httpx.Client, call: Call) -> httpx.Response:
    return client.request(call.method, call.url, **call.kwargs)


def run_phase(name: str, client: httpx.Client, requests: Iterator[Call], warmup: int,
              count: int, duration: float, ok: int = 200) -> Phase:
    for _ in range(warmup):
        send(client, next(requests))
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    while len(latencies) < count and time.perf_counter() - started < duration:
        call = next(requests)
        t0 = time.perf_counter()
        response = send(client, call)
        latencies.append(time.perf_counter() - t0)
        errors += response.status_code != ok
    return Phase(name, latencies, time.perf_counter() - started, errors)


def run_concurrent(name: str, base_url: str, make: Callable[[int], Iterator[Call]],
                   threads: int, count: int, duration: float, ok: int = 201) -> Phase:
    """`threads` clients, each with its own keep-alive connection, `count` requests in all."""
    results: list[Phase] = []
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            requests = make(index)
            barrier.wait()
            results.append(run_phase(name, client, requests, 0, count // threads, duration,
                                     ok))

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    return Phase(name, [x for r in results for x in r.latencies], wall,
                 sum(r.errors for r in results))


# -- the workload ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    users: list[str]
    zones: list[str]
    tokens: dict[str, str]
    facts: dict[str, Any]


def dataset(data_dir: Path) -> Dataset:
    views = sqlite3.connect(f"file:{data_dir / 'views.sqlite'}?mode=ro", uri=True)
    rows = views.execute("SELECT user_id, timezone FROM users ORDER BY user_id").fetchall()
    users, zones = [r[0] for r in rows], [r[1] for r in rows]
    if not users:
        sys.exit(f"{data_dir} has no users; run bench/load.py first")
    secret = os.environ.get("CALENDAR_SECRET") or (data_dir / "secret.key").read_text().strip()
    issuer = TokenIssuer(secret, timedelta(hours=6))
    now = datetime.now(UTC)
    tokens = {u: issuer.issue(UUID(u), now) for u in users}
    facts = {
        "users": len(users),
        "events": views.execute("SELECT COUNT(*) FROM cal_events").fetchone()[0],
        "recurring": views.execute("SELECT COUNT(*) FROM cal_events WHERE"
                                   " json_extract(state, '$.details.rrule') IS NOT NULL"
                                   ).fetchone()[0],
        "calendar entries": views.execute("SELECT COUNT(*) FROM cal_entries").fetchone()[0],
        "invitations": views.execute("SELECT COUNT(*) FROM inbox").fetchone()[0],
        "log notifications": views.execute("SELECT MIN(position) FROM tracking").fetchone()[0],
        "data dir": f"{dir_size(data_dir) / 2**20:.0f} MiB",
    }
    manifest = data_dir / MANIFEST
    if manifest.exists():
        found = json.loads(manifest.read_text())
        facts["seed"] = found["seed"]
        for key, what in (("load_events", "events"), ("catch_up_notifications", "notifications")):
            if key in found:
                facts[key.replace("_", " ")] = (
                    f"{found[key]['count']} {what} in {found[key]['seconds']} s"
                    f" ({found[key]['per_second']}/s)")
    views.close()
    return Dataset(users, zones, tokens, facts)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def auth(data: Dataset, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {data.tokens[user]}"}


def random_day(rng: random.Random) -> date:
    return date(2026, 1, 1) + timedelta(days=rng.randrange(365))


def week_views(data: Dataset, rng: random.Random) -> Iterator[Call]:
    while True:
        user, day = rng.choice(data.users), random_day(rng)
        yield Call("GET", "/v1/calendar/view", {
            "params": {"view": "week", "date": day.isoformat()}, "headers": auth(data, user)})


def availability_queries(data: Dataset, rng: random.Random) -> Iterator[Call]:
    while True:
        caller = rng.choice(data.users)
        monday = random_day(rng)
        monday -= timedelta(days=monday.weekday())
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        body = {"user_ids": rng.sample(data.users, AVAILABILITY_USERS),
                "start": start.isoformat(), "end": (start + timedelta(days=7)).isoformat()}
        yield Call("POST", "/v1/availability", {"json": body, "headers": auth(data, caller)})


def creations(data: Dataset, seed: int) -> Iterator[Call]:
    """Events like the loaded ones (0-5 guests, 10% recurring), from another seed."""
    for organizer, fields in event_specs(data.users, data.zones, seed):
        body = {k: v.isoformat() if isinstance(v, date) else v for k, v in fields.items()}
        yield Call("POST", "/v1/events", {"json": body,
                                          "headers": auth(data, data.users[organizer])})


# -- report ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")), 0)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"nproc": nproc, "CPU": cpu, "RAM": f"{mem / 2**20:.1f} GiB",
            "Python": platform.python_version(), "OS": f"{platform.system()} {platform.release()}",
            "load average at start": load}


def source_digest() -> str:
    """Which application code was measured (other work lands concurrently; no git here):
    a digest of the application's Python sources and the time of the newest change."""
    files = sorted(f for d in APP_PACKAGES for f in (ROOT / d).rglob("*.py"))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes())
    newest = datetime.fromtimestamp(max(f.stat().st_mtime for f in files), UTC)
    return f"sha256 {digest.hexdigest()[:12]} (newest file changed {newest:%Y-%m-%d %H:%M} UTC)"


def row(what: str, phase: Phase, target: str, met: bool, throughput: str) -> str:
    verdict = "yes" if met else "**no**"
    errors = f" ({phase.errors} errors)" if phase.errors else ""
    return (f"| {what} | {len(phase.latencies)}{errors} | {phase.percentile(50):.1f} |"
            f" {phase.percentile(99):.1f} | {phase.mean_ms:.1f} | {throughput} | {target} |"
            f" {verdict} |")


def report(phases: dict[str, Phase], data: Dataset, info: dict[str, str],
           args: argparse.Namespace, when: str, code: str) -> str:
    view, avail = phases["view"], phases["availability"]
    seq, par = phases["create"], phases["create4"]
    lines = [
        "# Embedded default: HTTP benchmark",
        "",
        f"Run {when} with `python bench/measure.py --data-dir {args.data_dir}"
        f" --duration {args.duration:g} --requests {args.requests}` (see bench/README.md).",
        "",
        "| Measurement | Requests | p50 ms | p99 ms | mean ms | Throughput | Target | Met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
        row("Week view `GET /v1/calendar/view?view=week` (random user, random 2026 week)",
            view, f"p99 <= {TARGET_VIEW_P99_MS:g} ms",
            view.percentile(99) <= TARGET_VIEW_P99_MS, f"{view.rate:.0f} req/s"),
        row(f"Availability `POST /v1/availability` ({AVAILABILITY_USERS} random users,"
            " 1 week)", avail, f"p99 <= {TARGET_AVAILABILITY_P99_MS:g} ms",
            avail.percentile(99) <= TARGET_AVAILABILITY_P99_MS, f"{avail.rate:.0f} req/s"),
        row("Create event `POST /v1/events` (0-5 guests), 1 client", seq,
            f">= {TARGET_CREATIONS_PER_S:g}/s", seq.rate >= TARGET_CREATIONS_PER_S,
            f"{seq.rate:.0f} events/s"),
        row(f"Create event `POST /v1/events` (0-5 guests), {WRITER_THREADS} client threads",
            par, f">= {TARGET_CREATIONS_PER_S:g}/s", par.rate >= TARGET_CREATIONS_PER_S,
            f"{par.rate:.0f} events/s"),
        "",
        f"Week views returned {phases['view'].note}. Creations: 10% recurring, the"
        " background delivery thread (fan-out and projections) runs during them, as in"
        " production.",
        "",
        "**Dataset:** " + ", ".join(f"{k} {v}" for k, v in data.facts.items()),
        "",
        "**Machine:** " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        f"**Code measured:** application sources {code}.",
        "",
    ]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=30,
                        help="cap in seconds on each measured phase")
    parser.add_argument("--requests", type=int, default=2000,
                        help="measured requests per phase (after warm-up)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--in-place", action="store_true",
                        help="serve the data dir itself, not a copy (creations stay in it)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    info, code = machine(), source_digest()
    data = dataset(args.data_dir)
    scratch = None
    served = args.data_dir
    if not args.in_place:
        scratch = Path(tempfile.mkdtemp(prefix="bench-copy-", dir=args.data_dir.parent))
        served = scratch / "data"
        print(f"copying {args.data_dir} to {served} ...", flush=True)
        shutil.copytree(args.data_dir, served)
    try:
        phases = measure(served, data, args)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = report(phases, data, info, args, when, code)
    args.output.write_text(text)
    print(text)


def measure(served: Path, data: Dataset, args: argparse.Namespace) -> dict[str, Phase]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_server(served, port, args.output.parent / "server.log")
    print(f"server up on {base_url}", flush=True)
    rng = random.Random(args.seed)
    phases: dict[str, Phase] = {}
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            views = week_views(data, rng)
            phases["view"] = measured("week view", client, views, args)
            phases["view"].note = items_note(client, week_views(data, random.Random(1)))
            phases["availability"] = measured(
                "availability", client, availability_queries(data, rng), args)
            phases["create"] = measured("create (1 client)", client,
                                        creations(data, args.seed), args, ok=201)
        phases["create4"] = run_concurrent(
            f"create ({WRITER_THREADS} clients)", base_url,
            lambda i: creations(data, args.seed * 100 + i + 1), WRITER_THREADS,
            args.requests, args.duration)
        show(phases["create4"])
    finally:
        stop_server(server)
    return phases


def measured(name: str, client: httpx.Client, requests: Iterator[Call],
             args: argparse.Namespace, ok: int = 200) -> Phase:
    print(f"{name}: {args.warmup} warm-up, then up to {args.requests} requests"
          f" or {args.duration:g} s ...", flush=True)
    phase = run_phase(name, client, requests, args.warmup, args.requests, args.duration, ok)
    show(phase)
    return phase


def show(phase: Phase) -> None:
    print(f"  {phase.name}: n={len(phase.latencies)} errors={phase.errors}"
          f" p50={phase.percentile(50):.1f} ms p99={phase.percentile(99):.1f} ms"
          f" mean={phase.mean_ms:.1f} ms {phase.rate:.0f}/s", flush=True)


def items_note(client: httpx.Client, requests: Iterator[Call], sample: int = 200) -> str:
    counts = [len(send(client, next(requests)).json()["items"]) for _ in range(sample)]
    return (f"{sum(counts) / len(counts):.1f} instances on average"
            f" (max {max(counts)}, over {sample} sampled weeks)")


if __name__ == "__main__":
    main()
