"""Every error becomes an RFC 9457 problem (application/problem+json), mapped here and
nowhere else. Bodies never carry stack traces, SQL or internal names."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from commands.handlers import EmailTakenError, UnknownGuestsError
from commands.router import PreconditionRequiredError, SignUpClosedError
from commands.service import NotFoundError
from domain.errors import (
    DomainError,
    EventCancelledError,
    NoSuchInstanceError,
    NotOrganizerError,
    SplitAtFirstInstanceError,
    TooManyInstancesError,
    VersionConflictError,
)
from domain.invitation import InvitationWithdrawnError
from infra.auth import InvalidTokenError
from infra.idempotency import IdempotencyInFlightError, IdempotencyMismatchError
from infra.unavailable import DEPENDENCY_ERRORS, is_unavailable, retry_after
from read_api.router import BadQueryError, NotVisibleError, UnknownUsersError

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
TITLES = {400: "Malformed request", 401: "Unauthenticated", 403: "Forbidden",
          404: "Not found", 405: "Method not allowed", 409: "Conflict",
          413: "Request body too large", 415: "Unsupported media type",
          422: "Validation failed", 428: "Precondition required", 429: "Too many requests",
          500: "Internal error", 501: "Not implemented", 503: "Service unavailable"}


def problem_body(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    """The RFC 9457 document every error response carries."""
    return {"type": f"https://calendar.example/problems/{status}",
            "title": TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}


def problem(status: int, detail: str, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = problem_body(status, detail, **extra)
    headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _errors(raw: list[Any]) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", ""))} for e in raw]


def _validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError | ValidationError)
    raw = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem(400, "the body is not valid JSON")
    return problem(422, "the request is not valid", errors=_errors(raw))


def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem(error.status_code, str(error.detail), headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method any route of this path takes (RFC 9110 §15.5.6); Starlette names only
    the first route's."""
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def _leaf_routes(routes: list[Any]) -> list[Any]:
    leaves = []
    for route in routes:
        nested = getattr(getattr(route, "original_router", None), "routes", None)
        leaves.extend(_leaf_routes(nested) if nested is not None else [route])
    return leaves


def _conflict(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, VersionConflictError)
    return problem(409, "the event has changed since you read it",
                   current_version=error.current_version)


def _named(status: int, loc: str) -> Callable[[Request, Exception], JSONResponse]:
    def handle(_: Request, error: Exception) -> JSONResponse:
        names = getattr(error, "unknown", [])
        errors = [{"loc": ["body", loc], "msg": f"unknown: {n}"} for n in names]
        return problem(status, str(error), errors=errors)
    return handle


def _bad_query(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, BadQueryError)
    return problem(422, str(error), errors=[{"loc": ["query", error.loc], "msg": str(error)}])


def _plain(status: int, detail: str | None = None) -> Callable[[Request, Exception], JSONResponse]:
    def handle(_: Request, error: Exception) -> JSONResponse:
        return problem(status, detail or str(error))
    return handle


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(500, "an unexpected error occurred; it has been logged")


UNAVAILABLE = "a service this request needs is unavailable; nothing was changed, retry later"


def _unavailable(request: Request, error: Exception) -> JSONResponse:
    if not is_unavailable(error):
        return _unexpected(request, error)
    log.warning("503 on %s %s: %s", request.method, request.url.path, type(error).__name__)
    return problem(503, UNAVAILABLE, headers={"Retry-After": retry_after()})


HANDLERS: list[tuple[type[Exception], Callable[[Request, Exception], JSONResponse]]] = [
    (RequestValidationError, _validation),
    (ValidationError, _validation),
    (HTTPException, _http),
    (VersionConflictError, _conflict),
    (UnknownGuestsError, _named(422, "guests")),
    (UnknownUsersError, _named(422, "user_ids")),
    (BadQueryError, _bad_query),
    (TooManyInstancesError, _plain(422)),
    (SplitAtFirstInstanceError, _plain(422)),
    (NotOrganizerError, _plain(403)),
    (SignUpClosedError, _plain(403)),
    (NoSuchInstanceError, _plain(404, "not found")),
    (NotFoundError, _plain(404, "not found")),
    (NotVisibleError, _plain(404, "not found")),
    (InvitationWithdrawnError, _plain(404, "not invited")),
    (EventCancelledError, _plain(409)),
    (EmailTakenError, _plain(409, "a user with this e-mail address already exists")),
    (IdempotencyInFlightError, _plain(409)),
    (IdempotencyMismatchError, _plain(422)),
    (PreconditionRequiredError, _plain(428)),
    (InvalidTokenError, _plain(401)),
    (NotImplementedError, _plain(501, "not implemented yet")),
    (DomainError, _plain(422)),
    *((kind, _unavailable) for kind in DEPENDENCY_ERRORS),
    (Exception, _unexpected),
]


def install(app: FastAPI) -> None:
    for kind, handler in HANDLERS:
        app.add_exception_handler(kind, handler)
