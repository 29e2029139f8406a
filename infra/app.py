"""The FastAPI application: routers, problem handlers, middleware, operations routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from commands.history import EventStoreHistory
from commands.router import router as write_router
from commands.service import CalendarStores
from infra import problems
from infra.auth import InvalidTokenError, TokenIssuer
from infra.http import WriteGuard
from infra.idempotency import IdempotencyStore
from infra.rate_limit import RateLimitMiddleware, TokenBuckets
from infra.request_metrics import LatencyMiddleware, RequestLatency
from infra.settings import Settings
from read_api.router import router as read_router
from read_api.store import BusyStore, OwnWrites, ReadStore


class Runtime(Protocol):
    """What the app needs from a composition root (embedded or distributed)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def stores(self) -> CalendarStores: ...
    @property
    def views(self) -> ReadStore: ...
    @property
    def busy_store(self) -> BusyStore: ...
    @property
    def tokens(self) -> TokenIssuer: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def own_writes(self) -> OwnWrites: ...
    @property
    def history(self) -> EventStoreHistory: ...
    def settle_fanout(self) -> None: ...
    def start(self) -> None: ...
    def close(self) -> None: ...
    def readiness(self) -> dict[str, Callable[[], object]]: ...
    def metrics_text(self) -> str: ...


def create_app(container: Runtime, start_delivery: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_delivery:
            container.start()
        yield
        container.close()

    app = FastAPI(title="Calendar API", version="1.0", lifespan=lifespan)
    _wire_state(app, container)
    app.include_router(write_router)
    app.include_router(read_router)
    problems.install(app)
    app.add_middleware(WriteGuard, tokens=container.tokens,
                       store=container.idempotency)
    settings = container.settings
    if settings.rate_limit_per_second > 0:
        app.add_middleware(RateLimitMiddleware, buckets=TokenBuckets(
            settings.rate_limit_per_second, settings.rate_limit_burst))
    latency = RequestLatency()
    app.add_middleware(LatencyMiddleware, latency=latency)  # outermost: times everything
    _operations(app, container, latency)
    return app


def _wire_state(app: FastAPI, c: Runtime) -> None:
    app.state.settings = c.settings
    app.state.stores = c.stores
    app.state.read_store = c.views
    app.state.busy_store = c.busy_store
    app.state.tokens = c.tokens
    app.state.own_writes = c.own_writes
    app.state.history = c.history
    app.state.settle_fanout = c.settle_fanout
    app.state.authenticate = lambda request: authenticate(c, request)


def authenticate(c: Runtime, request: Request) -> UUID:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("missing bearer token")
    return c.tokens.verify(token.strip())


def _operations(app: FastAPI, c: Runtime, latency: RequestLatency) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        checks = {name: _check(probe) for name, probe in c.readiness().items()}
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(c.metrics_text() + latency.text(),
                                 media_type="text/plain; version=0.0.4")


def _check(probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as error:  # a readiness probe reports any failure, it never raises
        return f"down: {type(error).__name__}"
    return "ok"


def app_from_environment() -> FastAPI:
    """The app of one of several API processes (`calctl serve --processes N`): the
    distributed deployment, configured from the environment, without workers."""
    from infra.distributed import distributed

    return create_app(distributed(Settings()))
