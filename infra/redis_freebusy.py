"""Free/busy in Redis: the distributed deployment's home for projections.freebusy.

The projection class itself decides what changes: for each message, the rows of the
events it may touch are copied from Redis into a scratch, in-memory SQLite copy of the
projection's tables, `FreeBusyProjection.process` runs there, and what it left is
written back to Redis. So Redis holds exactly what the SQL tables would (the replay and
crash tests compare the two paths), and the projection's rules live in one place.

Keys, under a deployment prefix:
  m:{user}:{day}   the user's busy mask for one UTC day (12 bytes: 96 slots; what reads
                   fetch)
  c:{user}:{day}   hash event id -> that event's mask for the day; `m:` is their OR, so
                   removing one event never frees a slot another event still holds
  s:{user}         hash event id -> "span_start span_end": the part of a series the user
                   holds that is expanded at read time (fb_series)
  ev:{event}       hash: state (fb_events), declined (fb_declined, JSON), index (what the
                   event contributes: its fb_masks and fb_series rows, JSON), version
  tracking         hash "shard:partition" -> highest notification id applied

Exactly once: one Lua script checks the tracking position, applies the whole change and
moves the position, atomically, so a redelivered message changes nothing. The script
refuses the change (and it is computed again) if another message changed one of the
events in between: RSVPs arrive on other partitions than their event. It names its keys
from arguments, so it needs one Redis, not a cluster."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import redis

from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation
from infra.kafka_consumer import Delivery
from infra.sqlite_views import SqliteTx
from projections.freebusy import FreeBusyProjection

RETRIES = 50
CHUNK = 1000
EMPTY_INDEX = '{"days": [], "series": []}'

APPLY = """
local p, field, id, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if tonumber(redis.call('HGET', p .. 'tracking', field) or '0') >= id then return 0 end
for i = 0, n - 1 do
  local eid, expected = ARGV[5 + i * 5], ARGV[6 + i * 5]
  if (redis.call('HGET', p .. 'ev:' .. eid, 'version') or '0') ~= expected then return -1 end
end
local function unhex(h)
  return (h:gsub('..', function(c) return string.char(tonumber(c, 16)) end))
end
local function union(values)
  local out = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
  for _, v in ipairs(values) do
    for i = 1, 12 do out[i] = bit.bor(out[i], string.byte(v, i)) end
  end
  for i = 1, 12 do out[i] = string.char(out[i]) end
  return table.concat(out)
end
local touched = {}
for i = 0, n - 1 do
  local eid, version = ARGV[5 + i * 5], tonumber(ARGV[6 + i * 5])
  local ev = p .. 'ev:' .. eid
  local old = cjson.decode(redis.call('HGET', ev, 'index') or '{"days":[],"series":[]}')
  local new = cjson.decode(ARGV[7 + i * 5])
  for _, d in ipairs(old.days) do
    redis.call('HDEL', p .. 'c:' .. d[1] .. ':' .. d[2], eid)
    touched[d[1] .. ':' .. d[2]] = true
  end
  for _, s in ipairs(old.series) do redis.call('HDEL', p .. 's:' .. s[1], eid) end
  for _, d in ipairs(new.days) do
    redis.call('HSET', p .. 'c:' .. d[1] .. ':' .. d[2], eid, unhex(d[3]))
    touched[d[1] .. ':' .. d[2]] = true
  end
  for _, s in ipairs(new.series) do
    redis.call('HSET', p .. 's:' .. s[1], eid, s[2] .. ' ' .. s[3])
  end
  redis.call('HSET', ev, 'index', ARGV[7 + i * 5], 'state', ARGV[8 + i * 5],
             'declined', ARGV[9 + i * 5], 'version', tostring(version + 1))
end
for k, _ in pairs(touched) do
  local values = redis.call('HVALS', p .. 'c:' .. k)
  if #values == 0 then redis.call('DEL', p .. 'm:' .. k)
  else redis.call('SET', p .. 'm:' .. k, union(values)) end
end
redis.call('HSET', p .. 'tracking', field, id)
return 1
"""


ADVANCE = """
local key, field, id = ARGV[1] .. 'tracking', ARGV[2], tonumber(ARGV[3])
if tonumber(redis.call('HGET', key, field) or '0') < id then redis.call('HSET', key, field, id) end
return 1
"""


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


class ScratchViews:
    """The projection's tables in memory, holding only the events one message touches."""

    def __init__(self, projection: FreeBusyProjection) -> None:
        self.projection = projection
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.tx = SqliteTx(self.db)
        for statement in projection.schema():
            self.tx.execute(statement)

    def run(self, event: Any, rows: dict[str, EventRows]) -> dict[str, EventRows]:
        """The rows of every event present before or after processing `event`."""
        for table in self.projection.tables():
            self.tx.execute(f"DELETE FROM {table}")
        for event_id, found in rows.items():
            self._load(event_id, found)
        self.projection.process(event, self.tx)
        ids = set(rows) | {r[0] for t in ("fb_events", "fb_declined", "fb_masks", "fb_series")
                           for r in self.tx.query(f"SELECT event_id FROM {t}")}
        return {event_id: self._rows(event_id) for event_id in ids}

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

    def _rows(self, event_id: str) -> EventRows:
        q = self.tx.query
        state = q("SELECT state FROM fb_events WHERE event_id = ?", (event_id,))
        declined = q("SELECT user_id FROM fb_declined WHERE event_id = ? ORDER BY user_id",
                     (event_id,))
        days = q("SELECT user_id, day, mask FROM fb_masks WHERE event_id = ?"
                 " ORDER BY user_id, day", (event_id,))
        series = q("SELECT user_id, span_start, span_end FROM fb_series WHERE event_id = ?"
                   " ORDER BY user_id", (event_id,))
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
        self.scratch = ScratchViews(FreeBusyProjection())
        self.lock = threading.Lock()

    def handle(self, deliveries: Sequence[Delivery]) -> None:
        """Events free/busy ignores (sign-ups, most invitation events) cost nothing but
        one tracking update per (shard, partition) at the end of the batch."""
        with self.lock:
            latest: dict[str, int] = {}
            for delivery in deliveries:
                if _may_change_busy_time(delivery.event):
                    self._handle(delivery)
                field = f"{delivery.shard}:{delivery.partition}"
                latest[field] = max(latest.get(field, 0), delivery.notification_id)
            for field, notification_id in latest.items():
                self.advance(args=[self.prefix, field, notification_id])

    def _handle(self, d: Delivery) -> None:
        for _ in range(RETRIES):
            before, versions = self._read(_events_of(d.event))
            after = self.scratch.run(d.event, before)
            missing = [e for e in after if e not in versions]
            if missing:  # e.g. a series a split creates: it may already exist
                more, more_versions = self._read(missing)
                before, versions = {**before, **more}, {**versions, **more_versions}
                after = self.scratch.run(d.event, before)
            changed = {e: rows for e, rows in after.items() if rows != before.get(e, NO_ROWS)}
            args: list[Any] = [self.prefix, f"{d.shard}:{d.partition}", d.notification_id,
                               len(changed)]
            for event_id, rows in sorted(changed.items()):
                args += [event_id, versions.get(event_id, "0"), rows.index, rows.state,
                         rows.declined]
            if self.apply(args=args) != -1:
                return
        raise RuntimeError(f"free/busy: events of {d.event!r} kept changing under us")

    def _read(self, event_ids: Iterable[str]) -> tuple[dict[str, EventRows], dict[str, str]]:
        ids = list(event_ids)
        pipe = self.redis.pipeline(transaction=False)
        for event_id in ids:
            pipe.hmget(self.prefix + "ev:" + event_id, ["state", "declined", "index", "version"])
        rows, versions = {}, {}
        for event_id, (state, declined, index, version) in zip(ids, pipe.execute(), strict=True):
            found = EventRows((state or b"").decode(), (declined or b"[]").decode(),
                              (index or EMPTY_INDEX.encode()).decode())
            if not found.empty:
                rows[event_id] = found
            versions[event_id] = (version or b"0").decode()
        return rows, versions

    def positions(self) -> dict[tuple[str, int, int], int]:
        tracked = {}
        for key, value in self.redis.hgetall(self.prefix + "tracking").items():
            shard, partition = key.decode().split(":")
            tracked[(self.name, int(shard), int(partition))] = int(value)
        return tracked

    def reset(self) -> None:
        """Delete every key of this projection (before a replay)."""
        keys = list(self.redis.scan_iter(match=self.prefix + "*", count=CHUNK))
        for start in range(0, len(keys), CHUNK):
            self.redis.delete(*keys[start:start + CHUNK])

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


def _may_change_busy_time(event: Any) -> bool:
    """What FreeBusyProjection.process does not ignore."""
    answers = Invitation.Responded | Invitation.Renewed  # type: ignore[attr-defined]
    return isinstance(event, CalendarEvent.Event | answers)


def _events_of(event: Any) -> list[str]:
    """The calendar events a domain event may change the busy time of: its own (a
    CalendarEvent's events), or the one it names (an invitation's answer)."""
    found = [str(event.originator_id)] if isinstance(event, CalendarEvent.Event) else []
    named = getattr(event, "event_id", None)
    return found + ([str(named)] if named is not None else [])


class RedisBusyReader:
    """read_api.store.BusyStore on the Redis keys above."""

    def __init__(self, client: redis.Redis[bytes], prefix: str) -> None:
        self.redis = client
        self.prefix = prefix

    def day_masks(self, user_ids: list[str], first: str, last: str
                  ) -> Iterable[tuple[str, str, bytes]]:
        wanted = [(u, d) for u in user_ids for d in _days(first, last)]
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start:start + CHUNK]
            masks = self.redis.mget([f"{self.prefix}m:{u}:{d}" for u, d in chunk])
            yield from ((u, d, m) for (u, d), m in zip(chunk, masks, strict=True) if m)

    def recurring(self, user_ids: list[str], span_start: str, span_end: str
                  ) -> Iterable[tuple[str, str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.hgetall(f"{self.prefix}s:{user_id}")
        held = [(u, e.decode(), *span.decode().split(" "))
                for u, series in zip(user_ids, pipe.execute(), strict=True)
                for e, span in series.items()]
        meets = [(u, e, s) for u, e, s, end in held if end > span_start and s < span_end]
        pipe = self.redis.pipeline(transaction=False)
        for _, event_id, _ in meets:
            pipe.hget(f"{self.prefix}ev:{event_id}", "state")
        states = pipe.execute() if meets else []
        return [(u, state.decode(), s)
                for (u, _, s), state in zip(meets, states, strict=True) if state]


def _days(first: str, last: str) -> Iterator[str]:
    day, stop = date.fromisoformat(first), date.fromisoformat(last)
    while day <= stop:
        yield day.isoformat()
        day += timedelta(days=1)
