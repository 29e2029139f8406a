"""Reading free/busy from Redis (read_api.store.BusyStore): the keys that
infra/redis_freebusy.py writes (its module doc describes them)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta

import redis

CHUNK = 1000  # keys per MGET


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
