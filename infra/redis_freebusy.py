"""Free/busy in Redis: the distributed deployment's home for projections.freebusy.

The projection class itself decides what changes: for a batch of messages, the rows of
the events they may touch are copied from Redis into a scratch, in-memory SQLite copy of
the projection's tables (one read round trip), `FreeBusyProjection.process` runs there
message by message, and what it left is written back to Redis (one script call). So
Redis holds exactly what the SQL tables would (the replay and crash tests compare the
two paths), and the projection's rules live in one place.

Keys, under a deployment prefix:
  m:{user}:{day}   the user's busy mask for one UTC day (12 bytes: 96 slots; what reads
                   fetch)
  c:{user}:{day}   hash event id -> that event's mask for the day; `m:` is their OR, so
                   removing one event never frees a slot another event still holds
  s:{user}         hash event id -> "span_start span_end": the part of a series the user
                   holds that is expanded at read time (fb_series)
  ev:{event}       hash: state (fb_events), declined (fb_declined, JSON), index (what the
                   event contributes: its fb_masks and fb_series rows, JSON), version
                   (how many messages have changed those rows)
  tracking         hash "shard:partition" -> highest notification id applied

Exactly once: messages at or below the tracked position of their partition are skipped;
one Lua script checks that the tracking positions and the events' versions are still
the ones read, applies the whole batch's change and moves the positions, atomically, so
a redelivered message changes nothing. The script refuses the change (and it is
computed again; after a few refusals, one message at a time) if another consumer moved
a position or changed one of the events in between: RSVPs arrive on other partitions
than their event. It names its keys from arguments, so it needs one Redis, not a
cluster."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation
from infra.kafka_consumer import Delivery
from infra.redis_busy_reader import RedisBusyReader
from infra.redis_scripts import ADVANCE, APPLY, RESET
from infra.sqlite_views import SqliteTx
from projections.freebusy import FreeBusyProjection
from projections.masks import MASK_BYTES

RETRIES = 50
# A batch whose events keep changing under it (RSVPs from other partitions, applied by
# other consumers) is applied one notification at a time after this many attempts.
BATCH_ATTEMPTS = 3
CHUNK = 1000
EMPTY_INDEX = '{"days": [], "series": []}'


@dataclass(frozen=True)
class EventRows:
    """One event's rows in the projection's tables, as stored in `ev:{event}`."""

    state: str  # "" when the event is not known (yet): an RSVP can come first
    declined: str  # JSON list, sorted
    index: str  # JSON {"days": [[user, day, mask hex]], "series": [[user, start, end]]}

    @property
    def empty(self) -> bool:
        return not self.state and self.declined == "[]" and self.index == EMPTY_INDEX


NO_ROWS = EventRows("", "[]", EMPTY_INDEX)
Snapshot = tuple[list[tuple[Any, ...]], ...]


@dataclass(frozen=True)
class Outcome:
    """What a run of the projection over some notifications did: every event's rows at
    the end, how many of the notifications changed each event's rows, and the events it
    wrote that were not loaded (their rows must be read and the run repeated)."""

    rows: dict[str, EventRows]
    masks: dict[str, bytes]  # each changed event's day masks, concatenated in index order
    changes: dict[str, int]
    unloaded: set[str]


class ScratchViews:
    """The projection's tables in memory, holding only the events some notifications
    touch. Triggers record which events' rows each notification writes, so only those
    are compared after it: a notification changes an event when the event's rows differ
    afterwards (exactly the per-notification comparison, without re-reading the rest)."""

    def __init__(self, projection: FreeBusyProjection) -> None:
        self.projection = projection
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.tx = SqliteTx(self.db)
        for statement in projection.schema():
            self.tx.execute(statement)
        self.tx.execute("CREATE TEMP TABLE written (event_id TEXT NOT NULL)")
        for table in projection.tables():
            for op, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
                self.tx.execute(f"CREATE TEMP TRIGGER {table}_{op.lower()} AFTER {op} ON"
                                f" {table} BEGIN INSERT INTO written VALUES ({row}.event_id);"
                                " END")

    def run(self, events: Sequence[Any], rows: dict[str, EventRows]) -> Outcome:
        """Process `events` in order over `rows` (the events' rows before them)."""
        self.db.execute("BEGIN")
        try:
            for table in [*self.projection.tables(), "written"]:
                self.tx.execute(f"DELETE FROM {table}")
            for event_id, found in rows.items():
                self._load(event_id, found)
            self.tx.execute("DELETE FROM written")
            current = {event_id: self._snapshot(event_id) for event_id in rows}
            changes: dict[str, int] = {}
            unloaded: set[str] = set()
            for event in events:
                self.projection.process(event, self.tx)
                written = [r[0] for r in self.tx.query("SELECT DISTINCT event_id FROM written")]
                self.tx.execute("DELETE FROM written")
                for event_id in written:
                    if event_id not in rows:
                        unloaded.add(event_id)
                    now = self._snapshot(event_id)
                    if now != current.get(event_id, ([], [], [], [])):
                        current[event_id] = now
                        changes[event_id] = changes.get(event_id, 0) + 1
            return Outcome({e: _as_rows(current[e]) for e in changes},
                           {e: _raw_masks(current[e]) for e in changes}, changes, unloaded)
        finally:
            self.db.execute("ROLLBACK")

    def _load(self, event_id: str, found: EventRows) -> None:
        if found.state:
            self.tx.execute("INSERT INTO fb_events VALUES (?, ?)", (event_id, found.state))
        self.tx.executemany("INSERT INTO fb_declined VALUES (?, ?)",
                            [(event_id, u) for u in json.loads(found.declined)])
        index = json.loads(found.index)
        self.tx.executemany("INSERT INTO fb_masks VALUES (?, ?, ?, ?)",
                            [(u, day, event_id, bytes.fromhex(m)) for u, day, m in index["days"]])
        self.tx.executemany("INSERT INTO fb_series VALUES (?, ?, ?, ?)",
                            [(u, event_id, s, e) for u, s, e in index["series"]])

    def _snapshot(self, event_id: str) -> Snapshot:
        q, key = self.tx.query, (event_id,)
        return (q("SELECT state FROM fb_events WHERE event_id = ?", key),
                q("SELECT user_id FROM fb_declined WHERE event_id = ? ORDER BY user_id", key),
                q("SELECT user_id, day, mask FROM fb_masks WHERE event_id = ?"
                  " ORDER BY user_id, day", key),
                q("SELECT user_id, span_start, span_end FROM fb_series WHERE event_id = ?"
                  " ORDER BY user_id", key))


def _raw_masks(snapshot: Snapshot) -> bytes:
    """The day masks as the script takes them: MASK_BYTES each, in index order."""
    masks = [bytes(m) for _, _, m in snapshot[2]]
    if any(len(m) != MASK_BYTES for m in masks):
        raise ValueError(f"free/busy: a day mask is not {MASK_BYTES} bytes")
    return b"".join(masks)


def _as_rows(snapshot: Snapshot) -> EventRows:
    state, declined, days, series = snapshot
    index = {"days": [[u, d, bytes(m).hex()] for u, d, m in days],
             "series": [list(s) for s in series]}
    return EventRows(state[0][0] if state else "", json.dumps([r[0] for r in declined]),
                     json.dumps(index))


class RedisFreeBusy:
    """The free/busy projection as a Kafka sink (and replay target) on Redis."""

    name = "freebusy"

    def __init__(self, url: str, prefix: str) -> None:
        self.redis: redis.Redis[bytes] = redis.Redis.from_url(url)
        self.prefix = prefix + "fb:"
        self.apply = self.redis.register_script(APPLY)
        self.advance = self.redis.register_script(ADVANCE)
        self.unlink = self.redis.register_script(RESET)
        self.scratch = ScratchViews(FreeBusyProjection())
        self.lock = threading.Lock()

    def handle(self, deliveries: Sequence[Delivery]) -> None:
        """The whole batch in one read round trip and one atomic script call: the rows of
        every event it may touch and the tracking positions are read, the projection runs
        over the notifications not applied yet, and the script writes the changed events
        and moves the positions only if neither moved in between (else all is computed
        again; after BATCH_ATTEMPTS, one notification at a time). Events free/busy
        ignores (sign-ups, most invitation events) cost nothing but their positions."""
        with self.lock:
            if not any(_may_change_busy_time(d.event) for d in deliveries):
                self._advance(deliveries)
                return
            for _ in range(BATCH_ATTEMPTS):
                if self._try(deliveries):
                    return
            for delivery in deliveries:
                for _ in range(RETRIES):
                    if self._try([delivery]):
                        break
                else:
                    raise RuntimeError(
                        f"free/busy: events of {delivery.event!r} kept changing under us")

    def wants(self, topic: str) -> bool:
        """The topics FreeBusyProjection reads; the others reach `handle` undecoded
        (event None) and only move the tracking positions."""
        return topic.startswith(self.scratch.projection.topics)

    def _advance(self, deliveries: Sequence[Delivery]) -> None:
        args: list[Any] = [self.prefix]
        for field, notification_id in _latest(deliveries).items():
            args += [field, notification_id]
        self.advance(args=args)

    def _try(self, deliveries: Sequence[Delivery]) -> bool:
        """Compute and apply `deliveries`; False if the script refused (compute again)."""
        latest = _latest(deliveries)
        wanted = list(dict.fromkeys(e for d in deliveries if _may_change_busy_time(d.event)
                                    for e in _events_of(d.event)))
        tracked, before, versions = self._read(list(latest), wanted)
        todo = [d.event for d in deliveries if _may_change_busy_time(d.event)
                and d.notification_id > int(tracked[f"{d.shard}:{d.partition}"])]
        outcome = self.scratch.run(todo, before)
        while outcome.unloaded - versions.keys():  # e.g. a series a split creates
            _, more, more_versions = self._read([], sorted(outcome.unloaded - versions.keys()))
            before, versions = {**before, **more}, {**versions, **more_versions}
            outcome = self.scratch.run(todo, before)
        args: list[Any] = [self.prefix, len(latest)]
        for field, notification_id in latest.items():
            args += [field, tracked[field], max(int(tracked[field]), notification_id)]
        args.append(len(outcome.changes))
        for event_id, count in sorted(outcome.changes.items()):
            rows, version = outcome.rows[event_id], versions[event_id]
            args += [event_id, version, int(version) + count, rows.index, rows.state,
                     rows.declined, outcome.masks[event_id]]
        return bool(self.apply(args=args) != -1)

    def _read(self, fields: list[str], event_ids: list[str]
              ) -> tuple[dict[str, str], dict[str, EventRows], dict[str, str]]:
        """Tracked positions of `fields`; rows and versions of `event_ids`."""
        pipe = self.redis.pipeline(transaction=False)
        if fields:
            pipe.hmget(self.prefix + "tracking", fields)
        for event_id in event_ids:
            pipe.hmget(self.prefix + "ev:" + event_id, ["state", "declined", "index", "version"])
        found = pipe.execute()
        positions = found.pop(0) if fields else []
        tracked = {f: (p or b"0").decode() for f, p in zip(fields, positions, strict=True)}
        rows, versions = {}, {}
        for event_id, (state, declined, index, version) in zip(event_ids, found, strict=True):
            loaded = EventRows((state or b"").decode(), (declined or b"[]").decode(),
                               (index or EMPTY_INDEX.encode()).decode())
            if not loaded.empty:
                rows[event_id] = loaded
            versions[event_id] = (version or b"0").decode()
        return tracked, rows, versions

    def positions(self) -> dict[tuple[str, int, int], int]:
        tracked = {}
        for key, value in self.redis.hgetall(self.prefix + "tracking").items():
            shard, partition = key.decode().split(":")
            tracked[(self.name, int(shard), int(partition))] = int(value)
        return tracked

    def reset(self) -> None:
        """Delete every key of this projection (before a replay)."""
        cursor = self.unlink(args=[0, self.prefix + "*", CHUNK])
        while int(cursor) != 0:
            cursor = self.unlink(args=[cursor, self.prefix + "*", CHUNK])

    def dump(self) -> dict[str, Any]:
        """Every key's value (tests compare a live projection with a replay)."""
        found: dict[str, Any] = {}
        for key in self.redis.scan_iter(match=self.prefix + "*", count=CHUNK):
            name = key.decode().removeprefix(self.prefix)
            found[name] = (self.redis.get(key) if name.startswith("m:")
                           else self.redis.hgetall(key))
        return found

    def reader(self) -> RedisBusyReader:
        return RedisBusyReader(self.redis, self.prefix)

    def ping(self) -> None:
        self.redis.ping()

    def close(self) -> None:
        self.redis.close()


def _latest(deliveries: Sequence[Delivery]) -> dict[str, int]:
    """The highest notification id per tracking field ("shard:partition")."""
    latest: dict[str, int] = {}
    for d in deliveries:
        field = f"{d.shard}:{d.partition}"
        latest[field] = max(latest.get(field, 0), d.notification_id)
    return latest


def _may_change_busy_time(event: Any) -> bool:
    """What FreeBusyProjection.process does not ignore (None: an event not decoded)."""
    answers = Invitation.Responded | Invitation.Renewed  # type: ignore[attr-defined]
    return isinstance(event, CalendarEvent.Event | answers)


def _events_of(event: Any) -> list[str]:
    """The calendar events a domain event may change the busy time of: its own (a
    CalendarEvent's events), or the one it names (an invitation's answer)."""
    found = [str(event.originator_id)] if isinstance(event, CalendarEvent.Event) else []
    named = getattr(event, "event_id", None)
    return found + ([str(named)] if named is not None else [])
