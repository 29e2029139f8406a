"""The FastAPI application: routers, problem handlers, middleware, operations routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from commands.router import router as write_router
from infra import problems
from infra.auth import InvalidTokenError
from infra.bootstrap import Container
from infra.http import WriteGuard
from read_api.router import router as read_router


def create_app(container: Container, start_delivery: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_delivery:
            container.delivery.start()
        yield
        container.close()

    app = FastAPI(title="Calendar API", version="1.0", lifespan=lifespan)
    _wire_state(app, container)
    app.include_router(write_router)
    app.include_router(read_router)
    problems.install(app)
    app.add_middleware(WriteGuard, tokens=container.tokens,
                       store=container.idempotency)
    _operations(app, container)
    return app


def _wire_state(app: FastAPI, c: Container) -> None:
    app.state.settings = c.settings
    app.state.stores = c.stores
    app.state.read_store = c.views
    app.state.tokens = c.tokens
    app.state.own_writes = c.own_writes
    app.state.history = c.history
    app.state.settle_fanout = c.settle_fanout
    app.state.authenticate = lambda request: authenticate(c, request)


def authenticate(c: Container, request: Request) -> UUID:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("missing bearer token")
    return c.tokens.verify(token.strip())


def _operations(app: FastAPI, c: Container) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        checks = {"event_store": _check(lambda: [s.recorder.max_notification_id()
                                                  for s in c.stores.shards]),
                  "views": _check(lambda: c.views.query("SELECT 1"))}
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)


def _check(probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
    except Exception as error:  # a readiness probe reports any failure, it never raises
        return f"down: {type(error).__name__}"
    return "ok"
