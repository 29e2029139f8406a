"""Free/busy in Redis: the distributed deployment's version of projections.freebusy,
built from the same pieces (EventState, `contribution`, the 96-slot day masks).

Keys, under a deployment prefix:
  m:{user}:{day}   the user's busy mask for one UTC day (12 bytes; what reads fetch)
  c:{user}:{day}   hash event id -> that event's mask for the day; `m:` is their OR, so
                   removing one event never frees a slot another event still holds
  s:{user}         hash event id -> "span_start span_end" of recurring series the user
                   holds (expanded inside the asked window at read time)
  ev:{event}       hash: state (EventState JSON), declined (JSON list), index (what the
                   event contributes now: JSON), version (for optimistic concurrency)
  tracking         hash "shard:partition" -> highest notification id applied

Exactly once: one Lua script checks the tracking position, applies the whole change and
moves the position, atomically, so a redelivered message changes nothing. The change is
computed in Python from a read of `ev:`; the script refuses it (and it is recomputed)
if another message changed the event in between (RSVPs arrive on other partitions).
The script names its keys from arguments, so it needs one Redis, not a cluster."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import redis

from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation
from infra.kafka_consumer import Delivery
from projections.event_state import EventState
from projections.freebusy import contribution
from projections.masks import mask_to_bytes

RETRIES = 50
CHUNK = 1000
EMPTY_INDEX = '{"days":[],"series":[]}'

APPLY = """
local p, field, id = ARGV[1], ARGV[2], tonumber(ARGV[3])
if tonumber(redis.call('HGET', p .. 'tracking', field) or '0') >= id then return 0 end
local eid = ARGV[4]
if eid ~= '' then
  local ev = p .. 'ev:' .. eid
  local version = redis.call('HGET', ev, 'version') or '0'
  if version ~= ARGV[5] then return -1 end
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
  local old = cjson.decode(redis.call('HGET', ev, 'index') or ARGV[9])
  local new = cjson.decode(ARGV[6])
  local touched = {}
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
  for k, _ in pairs(touched) do
    local values = redis.call('HVALS', p .. 'c:' .. k)
    if #values == 0 then redis.call('DEL', p .. 'm:' .. k)
    else redis.call('SET', p .. 'm:' .. k, union(values)) end
  end
  redis.call('HSET', ev, 'state', ARGV[7], 'declined', ARGV[8], 'index', ARGV[6],
             'version', tostring(tonumber(version) + 1))
end
redis.call('HSET', p .. 'tracking', field, id)
return 1
"""


class RedisFreeBusy:
    """The free/busy projection as a Kafka sink (and replay target) on Redis."""

    name = "freebusy"

    def __init__(self, url: str, prefix: str) -> None:
        self.redis: redis.Redis[bytes] = redis.Redis.from_url(url)
        self.prefix = prefix + "fb:"
        self.apply = self.redis.register_script(APPLY)

    def handle(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self._handle(delivery)

    def _handle(self, d: Delivery) -> None:
        event_id = _event_of(d.event)
        for _ in range(RETRIES):
            state, declined, version = self._read(event_id)
            change = _changed(d.event, state, declined) if event_id else None
            args = [self.prefix, f"{d.shard}:{d.partition}", d.notification_id,
                    event_id if change else "", version, *(change or ("", "", "")),
                    EMPTY_INDEX]
            if self.apply(args=args) != -1:
                return
        raise RuntimeError(f"free/busy: event {event_id} kept changing under us")

    def _read(self, event_id: str | None) -> tuple[str | None, list[str], str]:
        if event_id is None:
            return None, [], "0"
        state, declined, version = self.redis.hmget(self.prefix + "ev:" + event_id,
                                                    ["state", "declined", "version"])
        return (state.decode() if state else None,
                json.loads(declined) if declined else [], version.decode() if version else "0")

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


def _event_of(event: Any) -> str | None:
    """The calendar event a domain event changes the busy time of, if any."""
    if isinstance(event, CalendarEvent.Event):
        return str(event.originator_id)
    if isinstance(event, Invitation.Responded):  # type: ignore[attr-defined]
        return str(event.event_id)
    return None


def _changed(event: Any, text: str | None, declined: list[str]
             ) -> tuple[str, str, str] | None:
    """(index, state, declined) after the event, as projections.freebusy would have it."""
    state = EventState.loads(text) if text else None
    if isinstance(event, CalendarEvent.Scheduled):  # type: ignore[attr-defined]
        state = EventState.scheduled(event)
    elif isinstance(event, CalendarEvent.Event):
        if state is None:
            return None
        state.apply(event)
    else:
        declined = sorted(set(declined) - {str(event.guest_id)}
                          | ({str(event.guest_id)} if event.status == "no" else set()))
    index = _index(state, set(declined)) if state is not None else EMPTY_INDEX
    return index, state.dumps() if state is not None else "", json.dumps(declined)


def _index(state: EventState, declined: set[str]) -> str:
    busy = contribution(state, declined)
    series = [[u, *busy.rule_span] for u in busy.busy_users] if busy.rule_span else []
    days = [[u, day.isoformat(), mask_to_bytes(mask).hex()]
            for u in busy.busy_users for day, mask in sorted(busy.masks.items())]
    return json.dumps({"days": days, "series": series})


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
        held = [(u, e.decode(), span.decode().split(" ")[0])
                for u, series in zip(user_ids, pipe.execute(), strict=True)
                for e, span in series.items() if _meets(span.decode(), span_start, span_end)]
        pipe = self.redis.pipeline(transaction=False)
        for _, event_id, _ in held:
            pipe.hget(f"{self.prefix}ev:{event_id}", "state")
        states = pipe.execute() if held else []
        return [(u, s.decode(), rules_from)
                for (u, _, rules_from), s in zip(held, states, strict=True) if s]


def _meets(span: str, start: str, end: str) -> bool:
    span_start, span_end = span.split(" ")
    return span_end > start and span_start < end


def _days(first: str, last: str) -> Iterator[str]:
    day, stop = date.fromisoformat(first), date.fromisoformat(last)
    while day <= stop:
        yield day.isoformat()
        day += timedelta(days=1)
