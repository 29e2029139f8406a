"""What one week of a recurring series costs, by how long ago the series started.

The contract says a query costs in proportion to the instances inside its window, not to
how long ago the series started. This times `domain.recurrence.expand` for a one-week
window (2026-06-01..08 UTC) of rules started 1 day, 1 year, 10 years and 29 years before
it, in America/New_York (so DST changes lie between DTSTART and the window), and counts
the rule iterations with `ExpansionStats`.

    python bench/recurrence_cost.py [--seconds-per-cell 2] [--max-runs 2000]

Prints the table and writes bench/results/recurrence_cost.md. Warm runs (caches filled by
the first run, as in a serving process) give the median and p99; the first run after the
caches are cleared is shown on its own. `FREQ=SECONDLY;COUNT=1000000000` has 604,800
instances in a week, over the 10,000-per-query cap (the API answers 422 and asks for a
smaller window), so it is timed for a one-minute window, and once for the week with the
cap lifted.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain import recurrence  # noqa: E402
from domain.recurrence import ExpansionStats, Series, expand  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "recurrence_cost.md"
ZONE = "America/New_York"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
WEEK = (NOW, NOW + timedelta(weeks=1))
MINUTE = (NOW, NOW + timedelta(minutes=1))
AGES = {"1 day": timedelta(days=1), "1 year": timedelta(days=365),
        "10 years": timedelta(days=3652), "29 years": timedelta(days=10592)}
# (rule, window label, window, expand limit, duration)
CASES = [
    ("FREQ=MINUTELY;INTERVAL=20", "week", WEEK, None, timedelta(minutes=10)),
    ("FREQ=WEEKLY", "week", WEEK, None, timedelta(hours=1)),
    ("FREQ=DAILY;COUNT=100000", "week", WEEK, None, timedelta(hours=1)),
    ("FREQ=SECONDLY;COUNT=1000000000", "minute", MINUTE, None, timedelta(seconds=1)),
    ("FREQ=SECONDLY;COUNT=1000000000", "week, cap lifted", WEEK, 10**6, timedelta(seconds=1)),
]
CACHED = ("_parse_rule", "_rule_setup", "_cached_rrule", "_offset_extremes", "_cycle_periods")


@dataclass
class Cell:
    rule: str
    window: str
    age: str
    instances: int
    iterations: int
    counted: int
    first_ms: float
    runs: int
    median_ms: float
    p99_ms: float


def series(rule: str, age: timedelta, duration: timedelta) -> Series:
    """DTSTART at 09:00 New York time, `age` before the window."""
    day = (NOW - age).astimezone(ZoneInfo(ZONE)).date()
    start = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo(ZONE))
    return Series(start=start, end=start + duration, timezone=ZONE, rrule=rule)


def clear_caches() -> None:
    for name in CACHED:
        getattr(recurrence, name).cache_clear()


def measure(rule: str, label: str, window: tuple[datetime, datetime], limit: int | None,
            duration: timedelta, age: str, seconds: float, max_runs: int) -> Cell:
    subject = series(rule, AGES[age], duration)
    cap = recurrence.MAX_INSTANCES_PER_QUERY if limit is None else limit
    clear_caches()
    stats = ExpansionStats()
    began = time.perf_counter()
    found = expand(subject, *window, limit=cap, stats=stats)
    first = time.perf_counter() - began
    timings: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(timings) < max_runs and (len(timings) < 20 or time.perf_counter() < deadline):
        began = time.perf_counter()
        expand(subject, *window, limit=cap)
        timings.append(time.perf_counter() - began)
        if limit is not None and len(timings) >= 3:  # the 604,800-instance week: a few runs
            break
    return Cell(rule, label, age, len(found), stats.rule_iterations,
                stats.counted_without_iterating, first * 1000, len(timings),
                statistics.median(timings) * 1000, nearest_rank(timings, 0.99) * 1000)


def nearest_rank(values: list[float], fraction: float) -> float:
    """The smallest value with at least ``fraction`` of the values at or below it (with
    fewer than 100 values, p99 is the largest)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, python-dateutil "
            f"{metadata.version('python-dateutil')}; load average at the end: {load}")


def table(cells: list[Cell]) -> str:
    lines = ["| rule | window | started | instances | rule iterations | counted, not iterated "
             "| first run (cold) ms | runs | median ms | p99 ms |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cells:
        lines.append(f"| `{c.rule}` | {c.window} | {c.age} ago | {c.instances:,} | "
                     f"{c.iterations:,} | {c.counted:,} | {c.first_ms:.2f} | {c.runs} | "
                     f"{c.median_ms:.3f} | {c.p99_ms:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds-per-cell", type=float, default=2.0)
    parser.add_argument("--max-runs", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    cells = [measure(rule, label, window, limit, duration, age, args.seconds_per_cell,
                     args.max_runs)
             for rule, label, window, limit, duration in CASES for age in AGES]
    body = table(cells)
    print(body)
    report = "\n".join([
        "# Recurrence cost: one week of a series, by the series' age",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `python bench/recurrence_cost.py` on: "
        f"{machine()}.",
        "",
        f"`domain.recurrence.expand` for the window {WEEK[0]:%Y-%m-%d} to {WEEK[1]:%Y-%m-%d} "
        "(UTC; one minute for the SECONDLY rule unless noted), series in America/New_York "
        "starting at 09:00 local the given time before it. *Rule iterations* are the rule "
        "instances drawn from dateutil (`ExpansionStats.rule_iterations`); *counted, not "
        "iterated* are the COUNT instances before the window that the skip-ahead accounted "
        "for by arithmetic. The first run follows cleared caches (rule parsing, the rule's "
        "cadence, zone offsets); median and p99 are over the warm runs that follow, as in a "
        "serving process. Times are wall-clock and vary between machines and runs; the "
        "iteration counts do not.",
        "",
        body,
        "",
    ])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
