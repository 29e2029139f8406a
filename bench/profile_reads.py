"""Profile the week view and availability requests in-process with cProfile.

The whole FastAPI app (middleware, auth, validation, the endpoint, serialisation) is
called through httpx's ASGI transport in one thread: FastAPI normally runs sync
endpoints in a worker thread, which cProfile would not see, so this harness runs them
inline. No server, no sockets; the data directory is only read.

    python bench/profile_reads.py --data-dir bench/results/data --requests 300

Writes bench/results/profile.md (top entries) and bench/results/profile-*.prof
(open with `python -m pstats` or snakeviz).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import Call, Dataset, availability_queries, dataset, week_views  # noqa: E402
from infra.app import create_app  # noqa: E402
from infra.bootstrap import embedded  # noqa: E402
from infra.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SITE = str(Path(httpx.__file__).parent.parent) + "/"
STDLIB = sysconfig.get_paths()["stdlib"] + "/"
T = TypeVar("T")
TOP = 25
PROJECT_CODE = r"/(domain|commands|projections|read_api|infra)/"
Bucket = tuple[str, str, str]  # label, file suffix, function name
WHOLE = ("fastapi/applications.py", "__call__")
COMMON: list[Bucket] = [
    ("write guard middleware (POST only; verifies the token too)", "infra/http.py",
     "_idempotent"),
    ("authenticate: JWT verify (every call)", "infra/auth.py", "verify"),
    ("FastAPI: resolve dependencies, validate parameters (includes authenticate)",
     "fastapi/dependencies/utils.py",
     "solve_dependencies"),
]
VIEW_BUCKETS: list[Bucket] = [
    *COMMON,
    ("endpoint `read_api.router.calendar_view`", "read_api/router.py", "calendar_view"),
    ("&nbsp;&nbsp;read-your-own-writes check", "read_api/router.py", "own_writes"),
    ("&nbsp;&nbsp;user profile query", "read_api/queries.py", "user_profile"),
    ("&nbsp;&nbsp;`queries.calendar_view`", "read_api/queries.py", "calendar_view"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;`EventState.loads` (JSON parse of stored state)",
     "projections/event_state.py", "loads"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;`_instances_in` (expand + render)", "read_api/queries.py",
     "_instances_in"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;`recurrence.expand`", "domain/recurrence/expansion.py",
     "expand"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;`render_instance`", "read_api/rendering.py",
     "render_instance"),
    ("`EventState.details` (EventDetails.from_record; called per use)",
     "projections/event_state.py", "details"),
    ("SQLite: all queries (execute + fetchall)", "infra/sqlite_views.py", "query"),
    ("FastAPI: serialise the response", "fastapi/routing.py", "serialize_response"),
    ("Starlette: JSON-encode the response", "starlette/responses.py", "render"),
]
AVAILABILITY_BUCKETS: list[Bucket] = [
    *COMMON,
    ("endpoint `read_api.router.availability`", "read_api/router.py", "availability"),
    ("&nbsp;&nbsp;read-your-own-writes check", "read_api/router.py", "own_writes"),
    ("&nbsp;&nbsp;unknown-users check", "read_api/queries.py", "unknown_users"),
    ("&nbsp;&nbsp;`queries.busy_masks`", "read_api/queries.py", "busy_masks"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;stored day-masks query", "read_api/queries.py", "day_masks"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;recurring series query", "read_api/queries.py", "recurring"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;`EventState.loads` of recurring series",
     "projections/event_state.py", "loads"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;`recurrence.expand` of recurring series",
     "domain/recurrence/expansion.py", "expand"),
    ("&nbsp;&nbsp;&nbsp;&nbsp;`freebusy.slot_masks` + `union`", "domain/freebusy.py",
     "slot_masks"),
    ("&nbsp;&nbsp;`freebusy.busy_intervals` (per user, and inside free_intervals)",
     "domain/freebusy.py", "busy_intervals"),
    ("&nbsp;&nbsp;`freebusy.free_intervals`", "domain/freebusy.py", "free_intervals"),
    ("&nbsp;&nbsp;`freebusy.suggestions`", "domain/freebusy.py", "suggestions"),
    ("&nbsp;&nbsp;`_intervals` (render instants)", "read_api/router.py", "_intervals"),
    ("SQLite: all queries (execute + fetchall)", "infra/sqlite_views.py", "query"),
    ("FastAPI: serialise the response", "fastapi/routing.py", "serialize_response"),
    ("Starlette: JSON-encode the response", "starlette/responses.py", "render"),
]


async def inline_run_sync(func: Callable[..., T], *args: Any, **_: Any) -> T:
    """Stand-in for anyio.to_thread.run_sync: run the sync endpoint on this thread."""
    return func(*args)


async def drive(client: httpx.AsyncClient, requests: Iterator[Call], count: int
                ) -> list[float]:
    latencies = []
    for _ in range(count):
        call = next(requests)
        t0 = time.perf_counter()
        response = await client.request(call.method, call.url, **call.kwargs)
        latencies.append(time.perf_counter() - t0)
        if response.status_code != 200:
            sys.exit(f"unexpected {response.status_code}: {response.text[:300]}")
    return latencies


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1,
                                                        int(len(ordered) * 0.99))]
    mean = sum(ordered) / len(ordered)
    return f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, mean {mean * 1000:.2f} ms"


async def profile_one(name: str, client: httpx.AsyncClient, make: Callable[[], Iterator[Call]],
                      count: int, buckets: list[Bucket]) -> str:
    await drive(client, make(), 50)  # warm caches (zoneinfo, rrule parsing, sqlite pages)
    plain = await drive(client, make(), count)
    profiler = cProfile.Profile()
    profiler.enable()
    await drive(client, make(), count)
    profiler.disable()
    profiler.dump_stats(RESULTS / f"profile-{name}.prof")
    return section(name, count, plain, pstats.Stats(profiler), buckets)


def section(name: str, count: int, plain: list[float], stats: pstats.Stats,
            buckets: list[Bucket]) -> str:
    parts = [f"## {name}", "",
             f"In-process (no sockets, no profiler), {count} requests: {summary(plain)}.", "",
             breakdown(stats, count, buckets), "",
             listing(stats, "cumulative", PROJECT_CODE,
                     f"Project code by cumulative time ({count} requests)"),
             listing(stats, "tottime", "",
                     f"All functions by own time ({count} requests)")]
    return "\n".join(parts)


def cumulative(stats: pstats.Stats, path: str, function: str) -> float | None:
    """Seconds spent in (and under) the functions called `function` in files ending `path`;
    None when no such function ran (the code moved on: update the bucket)."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    found = [v[3] for (file, _, func), v in table.items()
             if func == function and file.endswith(path)]
    return sum(found) if found else None


def breakdown(stats: pstats.Stats, count: int, buckets: list[Bucket]) -> str:
    whole = cumulative(stats, *WHOLE) or 1e-9
    rows = ["Where the time goes (cProfile, times include the profiler's overhead; a row"
            " includes the rows indented under it):", "",
            "| Part | ms/request | share of request |", "|---|---:|---:|",
            f"| whole request in the ASGI app | {whole / count * 1000:.3f} | 100% |"]
    for label, path, function in buckets:
        spent = cumulative(stats, path, function)
        if spent is None:
            rows.append(f"| {label} | not called (`{path}:{function}`) | |")
        else:
            rows.append(f"| {label} | {spent / count * 1000:.3f} | {spent / whole:.0%} |")
    return "\n".join(rows)


def listing(stats: pstats.Stats, order: str, restriction: str, title: str) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(order).print_stats(restriction, TOP)
    body = out.getvalue()
    body = body[body.index("ncalls"):] if "ncalls" in body else body
    body = body.replace(str(ROOT) + "/", "").replace(SITE, "").replace(STDLIB, "")
    return "\n".join([f"{title}, top {TOP}:", "", "```", body.rstrip(), "```", ""])


async def run(data: Dataset, app: Any, count: int, seed: int) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        view = await profile_one("week-view", client,
                                 lambda: week_views(data, random.Random(seed)), count,
                                 VIEW_BUCKETS)
        avail = await profile_one("availability", client,
                                  lambda: availability_queries(data, random.Random(seed)),
                                  count, AVAILABILITY_BUCKETS)
    return "\n".join(["# Profiles of the read hot paths", "",
                      "Made by `python bench/profile_reads.py` (see bench/README.md).", "",
                      view, avail])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    data = dataset(args.data_dir)
    anyio.to_thread.run_sync = inline_run_sync  # type: ignore[assignment]
    container = embedded(Settings(data_dir=args.data_dir))
    app = create_app(container, start_delivery=False)
    try:
        text = asyncio.run(run(data, app, args.requests, args.seed))
    finally:
        container.close()
    (RESULTS / "profile.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
