"""Load a synthetic, seeded calendar dataset into an embedded data directory.

Users and events go through the real command handlers in-process (the write side's
fast path: no HTTP, no JSON), then the container's in-process delivery is driven until
every projection and the invitation fan-out have caught up.

    python bench/load.py --data-dir bench/results/data --users 1000 --events 100000 --seed 1

Resumable: users are found by their e-mail-derived ids, events already in the store are
counted and the same seeded sequence resumes after them, and delivery resumes from the
projections' tracking positions. Re-running a finished load changes nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commands.handlers import EmailTakenError, create_event, get_user, sign_up  # noqa: E402
from commands.models import CreateEvent, SignUp  # noqa: E402
from domain.user import User  # noqa: E402
from infra.bootstrap import Container, embedded  # noqa: E402
from infra.settings import Settings  # noqa: E402

MANIFEST = "bench-dataset.json"
YEAR_START, YEAR_DAYS = date(2026, 1, 1), 365
# (zone, weight, week start): a mix like a multinational's staff, DST and no-DST zones,
# half-hour and quarter-hour offsets included.
ZONES = [
    ("America/New_York", 14, "sunday"), ("America/Chicago", 7, "sunday"),
    ("America/Denver", 3, "sunday"), ("America/Los_Angeles", 10, "sunday"),
    ("America/Sao_Paulo", 4, "monday"), ("America/Toronto", 3, "sunday"),
    ("Europe/London", 10, "monday"), ("Europe/Paris", 8, "monday"),
    ("Europe/Berlin", 8, "monday"), ("Europe/Madrid", 3, "monday"),
    ("Europe/Warsaw", 2, "monday"), ("Africa/Lagos", 2, "monday"),
    ("Asia/Kolkata", 8, "monday"), ("Asia/Kathmandu", 1, "monday"),
    ("Asia/Singapore", 4, "monday"), ("Asia/Tokyo", 5, "sunday"),
    ("Asia/Shanghai", 3, "monday"), ("Australia/Sydney", 4, "monday"),
    ("Pacific/Auckland", 1, "monday"), ("UTC", 2, "monday"),
]
DURATIONS = [(15, 10), (30, 35), (45, 10), (60, 30), (90, 8), (120, 7)]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
TOPICS = ["Sync", "1:1", "Planning", "Review", "Standup", "Retro", "Lunch", "Interview",
          "Design", "Budget", "Roadmap", "Demo", "Onboarding", "Offsite", "Call"]
TEAMS = ["Platform", "Billing", "Mobile", "Search", "Data", "Sales", "Support", "Legal"]
ROOMS = ["", "", "Room 101", "Room 4B", "Video call", "Cafe", "HQ 3rd floor"]
RECURRING_SHARE, ALL_DAY_SHARE = 0.10, 0.03
PROGRESS_EVERY = 5000


@dataclass(frozen=True)
class Person:
    email: str
    timezone: str
    week_start: str
    working_hours: dict[str, Any]


# -- the dataset (pure, seeded) -------------------------------------------------------------


def people(count: int, seed: int) -> list[Person]:
    rng = random.Random(f"users-{seed}")
    zones = [z for z, _, _ in ZONES]
    weights = [w for _, w, _ in ZONES]
    week_starts = {z: s for z, _, s in ZONES}
    found = []
    for i in range(count):
        zone = rng.choices(zones, weights)[0]
        start_hour = rng.choice([7, 8, 8, 9, 9, 9, 10])
        hours = {"start": f"{start_hour:02d}:00", "end": f"{start_hour + 8:02d}:00",
                 "days": [1, 2, 3, 4, 5] if rng.random() < 0.9 else [1, 2, 3, 4]}
        found.append(Person(f"bench-user-{i:05d}@bench.example", zone, week_starts[zone],
                            hours))
    return found


def event_specs(ids: list[str], zones: list[str], seed: int
                ) -> Iterator[tuple[int, dict[str, Any]]]:
    """An endless seeded sequence of (organizer index, CreateEvent fields); `ids` and
    `zones` are the users' ids and time zones."""
    rng = random.Random(f"events-{seed}")
    while True:
        organizer = rng.randrange(len(ids))
        zone = ZoneInfo(zones[organizer])
        day = YEAR_START + timedelta(days=rng.randrange(YEAR_DAYS))
        others = rng.sample(range(len(ids) - 1), rng.randint(0, min(5, len(ids) - 1)))
        guests = [ids[g if g < organizer else g + 1] for g in others]
        fields: dict[str, Any] = {"title": _title(rng), "location": rng.choice(ROOMS),
                                  "guests": guests}
        if rng.random() < ALL_DAY_SHARE:
            fields.update(all_day=True, start=day, end=day + timedelta(days=rng.randint(1, 3)))
            if rng.random() < 0.2:
                fields["transparency"] = "opaque"
        else:
            # 15-minute-aligned local starts, mostly in office hours.
            quarter = rng.randint(7 * 4, 19 * 4 - 1) if rng.random() < 0.9 else rng.randrange(96)
            start = datetime.combine(day, clock(quarter // 4, quarter % 4 * 15), tzinfo=zone)
            minutes = rng.choices([d for d, _ in DURATIONS], [w for _, w in DURATIONS])[0]
            fields.update(start=start, end=start + timedelta(minutes=minutes))
        if rng.random() < RECURRING_SHARE:
            fields["rrule"] = _rrule(rng, day)
        yield organizer, fields


def _title(rng: random.Random) -> str:
    return f"{rng.choice(TEAMS)} {rng.choice(TOPICS)}"


def _rrule(rng: random.Random, day: date) -> str:
    """Weekly on BYDAY (open-ended, UNTIL or COUNT), daily with COUNT, or monthly."""
    kind = rng.choices(["weekly", "daily", "monthly"], [60, 25, 15])[0]
    if kind == "daily":
        return f"FREQ=DAILY;COUNT={rng.randint(3, 20)}"
    if kind == "monthly":
        tail = rng.choice(["", f";COUNT={rng.randint(3, 12)}"])
        if rng.random() < 0.5:
            return f"FREQ=MONTHLY;BYMONTHDAY={min(day.day, 28)}{tail}"
        nth = min((day.day - 1) // 7 + 1, 4)
        return f"FREQ=MONTHLY;BYDAY={nth}{WEEKDAYS[day.weekday()]}{tail}"
    days = {WEEKDAYS[day.weekday()]}
    if rng.random() < 0.35:
        days.add(rng.choice(WEEKDAYS[:5]))
    byday = ",".join(d for d in WEEKDAYS if d in days)
    interval = ";INTERVAL=2" if rng.random() < 0.15 else ""
    tail = rng.choice(["", "", ";UNTIL=20261231T235959Z", f";COUNT={rng.randint(4, 30)}"])
    return f"FREQ=WEEKLY{interval};BYDAY={byday}{tail}"


# -- loading --------------------------------------------------------------------------------


def load_users(container: Container, users: list[Person]) -> list[User]:
    loaded = []
    for person in users:
        command = SignUp.model_validate({
            "email": person.email, "name": person.email.split("@")[0],
            "timezone": person.timezone, "week_start": person.week_start,
            "working_hours": person.working_hours})
        try:
            loaded.append(sign_up(container.stores, command))
        except EmailTakenError:
            loaded.append(get_user(container.stores, User.create_id(person.email)))
    return loaded


def events_in_store(data_dir: Path) -> int:
    """Events already created: resuming skips as many of the seeded sequence."""
    total = 0
    for path in sorted(data_dir.glob("events-*.sqlite")):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            total += db.execute("SELECT COUNT(*) FROM stored_events"
                                " WHERE topic = 'calendar:CalendarEvent.Scheduled'").fetchone()[0]
    return total


def load_events(container: Container, users: list[Person], organizers: list[User],
                wanted: int, seed: int, done: int) -> float:
    started, last = time.perf_counter(), time.perf_counter()
    specs = event_specs([str(u.id) for u in organizers], [p.timezone for p in users], seed)
    for _ in range(done):
        next(specs)
    for created, index in enumerate(range(done, wanted), start=1):
        organizer, fields = next(specs)
        create_event(container.stores, organizers[organizer], CreateEvent(**fields))
        if (index + 1) % PROGRESS_EVERY == 0 or index + 1 == wanted:
            now = time.perf_counter()
            rate = created / (now - started)
            eta = (wanted - index - 1) / rate if rate else 0
            print(f"  events {index + 1:>7}/{wanted}  {rate:7.0f} events/s"
                  f"  (last {PROGRESS_EVERY / (now - last) if now > last else 0:6.0f}/s)"
                  f"  eta {eta:5.0f} s", flush=True)
            last = now
    return time.perf_counter() - started


def head(container: Container) -> int:
    return sum(s.recorder.max_notification_id() or 0 for s in container.stores.shards)


def catch_up(container: Container) -> tuple[int, float]:
    """Drive delivery until every processor has read every notification (fan-out writes
    invitations while it runs, so the log grows during catch-up)."""
    delivery = container.delivery
    started = last_print = time.perf_counter()
    total = 0
    while delivered := delivery.catch_up_once():
        total += delivered
        now = time.perf_counter()
        if now - last_print >= 10:
            behind = head(container) - min(delivery.positions.values(), default=0)
            print(f"  delivered {total:>8} notifications  {total / (now - started):6.0f}/s"
                  f"  head {head(container)}  behind ~{behind}", flush=True)
            last_print = now
    return total, time.perf_counter() - started


def check_manifest(data_dir: Path, args: argparse.Namespace) -> None:
    path = data_dir / MANIFEST
    wanted = {"seed": args.seed, "users": args.users, "events": args.events}
    if path.exists():
        found = json.loads(path.read_text())
        if found["seed"] != args.seed or found["users"] != args.users:
            sys.exit(f"{data_dir} holds a dataset with {found}; use another --data-dir")
        wanted = {**found, **wanted}
    path.write_text(json.dumps(wanted, indent=2) + "\n")


def record(data_dir: Path, key: str, count: int, seconds: float) -> None:
    """Keep the load and catch-up figures with the dataset (measure.py reports them)."""
    path = data_dir / MANIFEST
    manifest = json.loads(path.read_text())
    manifest[key] = {"count": count, "seconds": round(seconds, 1),
                     "per_second": round(count / seconds) if seconds else 0}
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    check_manifest(args.data_dir, args)
    container = embedded(Settings(data_dir=args.data_dir))
    try:
        run(container, args)
    finally:
        container.close()


def run(container: Container, args: argparse.Namespace) -> None:
    users = people(args.users, args.seed)
    started = time.perf_counter()
    organizers = load_users(container, users)
    print(f"users: {len(organizers)} ready in {time.perf_counter() - started:.1f} s", flush=True)
    done = events_in_store(args.data_dir)
    todo = max(args.events - done, 0)
    print(f"events: {done} already in the store, creating {todo}", flush=True)
    if todo:
        elapsed = load_events(container, users, organizers, args.events, args.seed, done)
        print(f"LOAD: {todo} events in {elapsed:.1f} s = {todo / elapsed:.0f} events/s",
              flush=True)
        record(args.data_dir, "load_events", todo, elapsed)
    print(f"delivery: catching up from the notification log (head {head(container)})",
          flush=True)
    delivered, elapsed = catch_up(container)
    rate = delivered / elapsed if elapsed else 0
    print(f"CATCH-UP: {delivered} notifications (users, events, invitations) in"
          f" {elapsed:.1f} s = {rate:.0f} notifications/s; head {head(container)}", flush=True)
    if delivered:
        record(args.data_dir, "catch_up_notifications", delivered, elapsed)


if __name__ == "__main__":
    main()
