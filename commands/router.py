"""The write API: one route per command; domain errors become HTTP problems in one
place (infra.problems)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from commands import handlers
from commands.event_states import state_of
from commands.ics_import import import_calendar
from commands.models import ChangeProfile, CreateEvent, PatchEvent, PatchInstance, Rsvp, SignUp
from commands.service import CalendarStores, NotFoundError
from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation
from domain.user import User
from read_api.queries import rsvps
from read_api.rendering import render_event

router = APIRouter(prefix="/v1")


class PreconditionRequiredError(Exception):
    """An edit without the version it expects: 428."""


class SignUpClosedError(Exception):
    """Open sign-up is switched off by configuration: 403."""


def stores(request: Request) -> CalendarStores:
    return request.app.state.stores  # type: ignore[no-any-return]


def current_user(request: Request) -> UUID:
    return request.app.state.authenticate(request)  # type: ignore[no-any-return]


Stores = Annotated[CalendarStores, Depends(stores)]
CurrentUser = Annotated[UUID, Depends(current_user)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


# -- users ------------------------------------------------------------------------------


@router.post("/users", status_code=201)
def sign_up(command: SignUp, request: Request, s: Stores) -> dict[str, Any]:
    if not request.app.state.settings.open_signup:
        raise SignUpClosedError("open sign-up is switched off")
    user = handlers.sign_up(s, command)
    token = request.app.state.tokens.issue(user.id, datetime.now(UTC))
    return {**user_body(user), "token": token}


@router.get("/users/me")
def me(user_id: CurrentUser, s: Stores) -> dict[str, Any]:
    return user_body(handlers.get_user(s, user_id))


@router.patch("/users/me")
def change_me(command: ChangeProfile, user_id: CurrentUser, s: Stores) -> dict[str, Any]:
    return user_body(handlers.change_profile(s, user_id, command))


def user_body(user: User) -> dict[str, Any]:
    return {"user_id": str(user.id), "email": user.email, "name": user.name,
            "timezone": user.timezone, "week_start": user.week_start,
            "working_hours": user.working_hours}


# -- events -----------------------------------------------------------------------------


@router.post("/events", status_code=201)
def create_event(command: CreateEvent, request: Request, response: Response,
                 user_id: CurrentUser, s: Stores) -> dict[str, Any]:
    organizer = handlers.get_user(s, user_id)
    event = handlers.create_event(s, organizer, command)
    response.headers["Location"] = f"/v1/events/{event.id}"
    return event_body(request, response, event)


@router.patch("/events/{event_ref}")
def patch_event(event_ref: str, request: Request, response: Response, user_id: CurrentUser,
                s: Stores, body: Annotated[dict[str, Any], Body()], if_match: IfMatch = None,
                scope: Annotated[str, Query(pattern="^(this|following)$")] = "this",
                ) -> dict[str, Any]:
    event_id, key = parse_event_ref(event_ref)
    if key is None:
        command = PatchEvent.model_validate(body)
        version = expected_version(command.version, if_match)
        event, invited = handlers.patch_event(s, user_id, event_id, command, version)
        return event_body(request, response, event, invited)
    else:
        if scope == "following":
            command = PatchEvent.model_validate(body)
            version = expected_version(command.version, if_match)
            event = handlers.split_following(s, user_id, event_id, key, command, version)
            return event_body(request, response, event)
        instance = PatchInstance.model_validate(body)
        version = expected_version(instance.version, if_match)
        event = handlers.override_instance(s, user_id, event_id, key, instance, version)
    return event_body(request, response, event)


@router.delete("/events/{event_ref}", status_code=204)
def delete_event(event_ref: str, user_id: CurrentUser, s: Stores,
                 if_match: IfMatch = None) -> Response:
    event_id, key = parse_event_ref(event_ref)
    version = parse_if_match(if_match) if if_match else None
    if key is None:
        handlers.cancel_event(s, user_id, event_id, version)
    else:
        handlers.cancel_instance(s, user_id, event_id, key, version)
    return Response(status_code=204)


def parse_event_ref(ref: str) -> tuple[UUID, str | None]:
    """`{event_id}` or an instance id `{event_id}_{YYYYMMDDTHHMMSSZ}`."""
    event_part, _, key = ref.partition("_")
    try:
        return UUID(event_part), key or None
    except ValueError as error:
        raise NotFoundError(ref) from error


def expected_version(in_body: int | None, if_match: str | None) -> int:
    if in_body is not None:
        return in_body
    if if_match is not None:
        return parse_if_match(if_match)
    raise PreconditionRequiredError("send the version you edit: 'version' or If-Match")


def parse_if_match(value: str) -> int:
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise PreconditionRequiredError('If-Match must be a version, like "3"')
    return int(text)


def event_body(request: Request, response: Response, event: CalendarEvent,
               invited: set[UUID] | None = None) -> dict[str, Any]:
    response.headers["ETag"] = f'"{event.version}"'
    # A new event has no answers yet: no need to ask the views on every creation.
    answers = {} if event.version == 1 else rsvps(request.app.state.read_store, str(event.id))
    fresh = {str(guest): "pending" for guest in invited or ()}
    return render_event(state_of(event), {**answers, **fresh}, None)


@router.post("/calendar/import", status_code=201,
             openapi_extra={"requestBody": {"content": {"text/calendar": {}}}})
async def import_ics(request: Request, user_id: CurrentUser, s: Stores) -> dict[str, Any]:
    """Import an iCalendar file (text/calendar) as the caller's events."""
    text = await request.body()
    organizer = await run_in_threadpool(handlers.get_user, s, user_id)
    created = await run_in_threadpool(import_calendar, s, organizer, text)
    return {"imported": len(created), "event_ids": [str(i) for i in created]}


# -- invitations ------------------------------------------------------------------------


@router.patch("/invitations/{event_id}/rsvp")
def answer(event_id: str, command: Rsvp, request: Request, user_id: CurrentUser,
           s: Stores) -> dict[str, Any]:
    event_uuid, _ = parse_event_ref(event_id)
    try:
        invitation = handlers.rsvp(s, user_id, event_uuid, command.status)
    except NotFoundError:
        # The invitation is written asynchronously by the fan-out; give it a moment.
        request.app.state.settle_fanout()
        invitation = handlers.rsvp(s, user_id, event_uuid, command.status)
    return rsvp_body(invitation)


def rsvp_body(invitation: Invitation) -> dict[str, Any]:
    return {"event_id": str(invitation.event_id), "guest_id": str(invitation.guest_id),
            "rsvp_status": invitation.rsvp_status,
            "updated_at": invitation.modified_on.isoformat()}
