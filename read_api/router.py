"""The read API: views over projections only. Before answering, a read waits briefly for
the projections it uses to pass the caller's own latest write (read-your-own-writes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain import freebusy
from domain.values import EARLIEST, LATEST, in_supported_range, is_known_zone
from projections.event_state import EventState
from read_api import queries
from read_api.ics import export_calendar
from read_api.queries import Window
from read_api.rendering import render_instant
from read_api.store import BusyStore, HistoryReader, OwnWrites, ReadStore

router = APIRouter(prefix="/v1")
MAX_WINDOW = timedelta(days=366)


class NotVisibleError(Exception):
    """Not found, or not visible to the caller: 404 either way."""


class BadQueryError(ValueError):
    """A query parameter that makes no sense: 422."""

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc


def read_store(request: Request) -> ReadStore:
    return request.app.state.read_store  # type: ignore[no-any-return]


def reader(request: Request) -> UUID:
    return request.app.state.authenticate(request)  # type: ignore[no-any-return]


Store = Annotated[ReadStore, Depends(read_store)]
Reader = Annotated[UUID, Depends(reader)]
Tz = Annotated[str | None, Query(description="IANA zone to render instants in")]


def own_writes(request: Request, user_id: UUID, *projections: str) -> dict[str, EventState]:
    """Wait for the projections to pass the caller's latest write. When they do not in
    time, the caller's newer events as the event store has them, by event id (empty
    where the deployment has no such fallback), for the read to overlay on the views."""
    writes: OwnWrites = request.app.state.own_writes
    if writes.wait(user_id, projections):
        return {}
    return {str(state.doc["event_id"]): state for state in writes.unapplied(user_id)}


def zone_param(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    if not is_known_zone(name):
        raise BadQueryError("tz", f"unknown time zone {name!r}")
    return ZoneInfo(name)


def checked_window(start: datetime, end: datetime, loc: str = "end") -> Window:
    if not (in_supported_range(start) and in_supported_range(end)):
        raise BadQueryError(loc, "windows must lie between 1900-01-01 and 2200-01-01 (UTC)")
    if end <= start:
        raise BadQueryError(loc, "end must be after start")
    if end - start > MAX_WINDOW:
        raise BadQueryError(loc, "the window may span at most 366 days")
    return Window(start, end)


def profile(store: ReadStore, user_id: UUID, request: Request | None = None
            ) -> dict[str, Any]:
    """The user's profile; with `request`, the caller's own, from the event store when
    the users projection has not applied their sign-up yet (read-your-own-writes)."""
    found = queries.user_profile(store, str(user_id))
    if found is None and request is not None:
        writes: OwnWrites = request.app.state.own_writes
        found = writes.profile(user_id)
    if found is None:
        raise NotVisibleError("user")
    return found


# -- calendar view ----------------------------------------------------------------------


@router.get("/calendar/view")
def calendar_view(
    request: Request, user_id: Reader, store: Store,
    start: AwareDatetime | None = None, end: AwareDatetime | None = None,
    view: Literal["day", "week", "month"] | None = None, date_: Annotated[
        date | None, Query(alias="date")] = None,
    tz: Tz = None, include_declined: bool = False,
) -> dict[str, Any]:
    fresh = own_writes(request, user_id, "calendar", "users")
    me = profile(store, user_id, request)
    viewer_zone = ZoneInfo(me["timezone"])
    window = view_window(start, end, view, date_, viewer_zone, me["week_start"])
    render_zone = zone_param(tz)
    items = queries.calendar_view(store, str(user_id), window, viewer_zone, render_zone,
                                  include_declined)
    if fresh:
        items = queries.overlay_view(store, items, fresh.values(), str(user_id), window,
                                     viewer_zone, render_zone, include_declined)
    return {"start": render_instant(window.start, render_zone),
            "end": render_instant(window.end, render_zone),
            "timezone": tz or me["timezone"], "items": queries.strip_sort_keys(items)}


def view_window(start: datetime | None, end: datetime | None, view: str | None,
                day: date | None, zone: ZoneInfo, week_start: str) -> Window:
    if view is None:
        if start is None or end is None:
            raise BadQueryError("start", "give start and end, or view and date")
        return checked_window(start, end)
    if day is None:
        raise BadQueryError("date", "view needs a date (YYYY-MM-DD)")
    if not EARLIEST.date() < day < LATEST.date() - timedelta(days=31):
        raise BadQueryError("date", "dates must lie between 1900-01-02 and 2199-11-30")
    first, last = calendar_days(view, day, week_start)
    return checked_window(datetime.combine(first, time(0), tzinfo=zone),
                          datetime.combine(last, time(0), tzinfo=zone), "date")


def calendar_days(view: str, day: date, week_start: str) -> tuple[date, date]:
    """[first, last) local dates of the day, week or month containing `day`."""
    if view == "day":
        return day, day + timedelta(days=1)
    if view == "week":
        offset = day.weekday() if week_start == "monday" else (day.weekday() + 1) % 7
        first = day - timedelta(days=offset)
        return first, first + timedelta(days=7)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


# -- events -----------------------------------------------------------------------------


@router.get("/events/{event_id}")
def get_event(event_id: str, request: Request, user_id: Reader, store: Store,
              tz: Tz = None) -> dict[str, Any]:
    fresh = own_writes(request, user_id, "calendar", "rsvps").get(event_id.lower())
    found = (queries.event(store, event_id, str(user_id), zone_param(tz)) if fresh is None
             else queries.fresh_event(store, fresh, str(user_id), zone_param(tz)))
    if found is None:
        raise NotVisibleError("event")
    return found


@router.get("/events/{event_id}/instances")
def get_instances(event_id: str, request: Request, user_id: Reader, store: Store,
                  start: AwareDatetime, end: AwareDatetime, tz: Tz = None) -> dict[str, Any]:
    fresh = own_writes(request, user_id, "calendar", "rsvps").get(event_id.lower())
    found = queries.instances(store, event_id, str(user_id), checked_window(start, end),
                              zone_param(tz), fresh)
    if found is None:
        raise NotVisibleError("event")
    return {"items": queries.strip_sort_keys(found)}


@router.get("/events/{event_id}/history")
def get_history(event_id: str, request: Request, user_id: Reader) -> dict[str, Any]:
    history: HistoryReader = request.app.state.history
    try:
        items = history.history(user_id, UUID(event_id))
    except ValueError as error:
        raise NotVisibleError("event") from error
    if items is None:
        raise NotVisibleError("event")
    return {"items": items}


# -- invitations ------------------------------------------------------------------------


@router.get("/invitations")
def invitations(request: Request, user_id: Reader, store: Store,
                status: Literal["pending", "yes", "no", "maybe"] | None = None
                ) -> dict[str, Any]:
    own_writes(request, user_id, "invitations")
    return {"items": queries.inbox(store, str(user_id), status)}


@router.get("/calendar.ics", response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}})
def calendar_ics(request: Request, user_id: Reader, store: Store, start: AwareDatetime,
                 end: AwareDatetime) -> Response:
    """The caller's calendar as iCalendar (RFC 5545)."""
    own_writes(request, user_id, "calendar", "rsvps")
    window = checked_window(start, end)
    body = export_calendar(store, str(user_id), window.start, window.end)
    return Response(body, media_type="text/calendar; charset=utf-8")


# -- availability -----------------------------------------------------------------------


class AvailabilityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: Annotated[list[UUID], Field(min_length=1, max_length=1000)]
    start: AwareDatetime
    end: AwareDatetime
    duration_minutes: Annotated[int, Field(ge=15, le=31 * 24 * 60)] = 30
    working_hours_only: bool = False
    max_suggestions: Annotated[int, Field(ge=0, le=100)] = 10

    @model_validator(mode="after")
    def _window(self) -> AvailabilityQuery:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_WINDOW:
            raise ValueError("the window may span at most 366 days")
        if not (in_supported_range(self.start) and in_supported_range(self.end)):
            raise ValueError("windows must lie between 1900-01-01 and 2200-01-01 (UTC)")
        return self


class UnknownUsersError(Exception):
    def __init__(self, unknown: list[str]) -> None:
        super().__init__("unknown users: " + ", ".join(unknown))
        self.unknown = unknown


@router.post("/availability")
def availability(query: AvailabilityQuery, request: Request, user_id: Reader,
                 store: Store) -> dict[str, Any]:
    own_writes(request, user_id, "freebusy", "users")
    ids = [str(u) for u in dict.fromkeys(query.user_ids)]
    unknown = queries.unknown_users(store, ids)
    if unknown:
        raise UnknownUsersError(unknown)
    window = Window(query.start.astimezone(UTC), query.end.astimezone(UTC))
    busy: BusyStore = request.app.state.busy_store
    masks = queries.busy_masks(busy, ids, window)
    everyone = freebusy.union(*masks.values())
    allowed = working_slots(store, ids, window) if query.working_hours_only else None
    suggestions = freebusy.suggestions(everyone, window.start, window.end,
                                       query.duration_minutes, query.max_suggestions, allowed)
    return {
        "start": render_instant(window.start, None), "end": render_instant(window.end, None),
        "slot_minutes": freebusy.SLOT_MINUTES,
        "busy": {u: _intervals(freebusy.busy_intervals(m, window.start, window.end))
                 for u, m in masks.items()},
        "free": _intervals(freebusy.free_intervals(everyone, window.start, window.end)),
        "suggestions": _intervals(suggestions),
    }


def working_slots(store: ReadStore, user_ids: list[str], window: Window) -> dict[date, int]:
    """Slots inside every listed user's working hours."""
    allowed: dict[date, int] | None = None
    for user_id in user_ids:
        found = queries.user_profile(store, user_id)
        assert found is not None
        wh = found["working_hours"]
        mine = freebusy.working_hours_masks(wh["start"], wh["end"], wh["days"],
                                            found["timezone"], window.start, window.end)
        allowed = mine if allowed is None else {
            d: m & mine.get(d, 0) for d, m in allowed.items()}
    return allowed or {}


def _intervals(pairs: list[tuple[datetime, datetime]]) -> list[dict[str, str]]:
    return [{"start": render_instant(s, None), "end": render_instant(e, None)}
            for s, e in pairs]
