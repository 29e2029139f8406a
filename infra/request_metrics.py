"""Request latency for /metrics: a Prometheus histogram per method, route template and
status, kept by a pure ASGI middleware. Routes are the templates the router matched
(`/v1/events/{event_id}`), never raw paths, so the number of series stays bounded; a
path that matches no route counts as `unmatched`. Each API process keeps its own (with
`calctl serve --processes N`, a scrape sees the process that answered it)."""

from __future__ import annotations

import bisect
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.metrics import escape_label

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NAME = "calendar_http_request_duration_seconds"
Key = tuple[str, str, str]


class RequestLatency:
    def __init__(self) -> None:
        self._counts: dict[Key, list[int]] = {}
        self._sums: dict[Key, float] = {}
        self._lock = threading.Lock()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(BUCKETS) + 1))
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sums[key] = self._sums.get(key, 0.0) + seconds

    def text(self) -> str:
        lines = [f"# HELP {NAME} time from request to the end of the response",
                 f"# TYPE {NAME} histogram"]
        with self._lock:
            for key in sorted(self._counts):
                lines.extend(self._series(key, self._counts[key], self._sums[key]))
        return "\n".join(lines) + "\n"

    @staticmethod
    def _series(key: Key, counts: list[int], total: float) -> list[str]:
        method, route, status = (escape_label(v) for v in key)
        labels = f'method="{method}",route="{route}",status="{status}"'
        running, lines = 0, []
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
            running += count
            lines.append(f'{NAME}_bucket{{{labels},le="{bound}"}} {running}')
        lines.append(f"{NAME}_sum{{{labels}}} {total:.6f}")
        lines.append(f"{NAME}_count{{{labels}}} {running}")
        return lines


class LatencyMiddleware:
    """Times every HTTP request from its arrival to the last byte of its response."""

    def __init__(self, app: ASGIApp, latency: RequestLatency) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.latency.observe(scope["method"], _route(scope), status,
                                 time.perf_counter() - started)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
