"""Rate limiting: a token bucket per caller (their bearer token, else their address),
refilled at `rate` requests per second up to `burst`. A request that finds the bucket
empty gets 429 with Retry-After (the seconds until a token is back) and is not run.
Buckets live in the API process: with N processes a caller gets up to N times the rate
(documented in the README). Health, readiness and metrics are never limited."""

from __future__ import annotations

import hashlib
import math
import threading
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from infra.http import header, send_problem

UNLIMITED = ("/healthz", "/readyz", "/metrics")
MAX_BUCKETS = 100_000  # beyond this, buckets that are full again are forgotten


class TokenBuckets:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> float:
        """0 if the request may run (a token is taken), else the seconds to wait."""
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                self._forget_full(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        if len(self._buckets) <= MAX_BUCKETS:
            return
        refill = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED:
            return await self.app(scope, receive, send)
        wait = self.buckets.take(_caller(scope), time.monotonic())
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            return await send_problem(send, 429, "too many requests; retry later",
                                      {"Retry-After": retry})
        await self.app(scope, receive, send)


def _caller(scope: Scope) -> str:
    """The bearer token (hashed: keys stay short and no token is kept in clear), or
    the client's address for requests without one (sign-up)."""
    auth = header(scope, b"authorization")
    if auth:
        return "t:" + hashlib.blake2b(auth.encode(), digest_size=16).hexdigest()
    client = scope.get("client")
    return "a:" + (client[0] if client else "unknown")
