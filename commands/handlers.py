"""One handler per command: load, act, save. OCC is checked against the version the
client last saw (eventsourcing-notes: the store's primary key is the final arbiter)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.models import ChangeProfile, CreateEvent, PatchEvent, PatchInstance, SignUp
from commands.service import CalendarStores, NotFoundError
from domain.calendar_event import CalendarEvent
from domain.errors import DomainError, InvalidEventError, VersionConflictError
from domain.invitation import Invitation
from domain.user import User, normalise_email
from domain.values import EventDetails, WorkingHours, local_midnight

RSVP_RETRIES = 5


class EmailTakenError(Exception):
    """A second sign-up with the same e-mail address: 409."""


class UnknownGuestsError(DomainError):
    def __init__(self, unknown: list[str]) -> None:
        super().__init__("unknown guests: " + ", ".join(unknown))
        self.unknown = unknown


# -- users ------------------------------------------------------------------------------


def sign_up(stores: CalendarStores, command: SignUp) -> User:
    wh = command.working_hours
    user = User.register(command.email, command.name, command.timezone, command.week_start,
                         WorkingHours(wh.start, wh.end, tuple(wh.days)))
    try:
        stores.save(user.id, stores.user_shard(user.id), user)
    except IntegrityError as error:
        raise EmailTakenError(command.email) from error
    return user


def get_user(stores: CalendarStores, user_id: UUID) -> User:
    return stores.load(stores.user_shard(user_id), user_id, User)


def change_profile(stores: CalendarStores, user_id: UUID, command: ChangeProfile) -> User:
    user = get_user(stores, user_id)
    changes = command.model_dump(exclude_unset=True, exclude_none=True)
    if changes:
        user.change_profile(changes)
        stores.save(user_id, stores.user_shard(user_id), user)
    return user


# -- events -----------------------------------------------------------------------------


def create_event(stores: CalendarStores, organizer: User, command: CreateEvent) -> CalendarEvent:
    fields = command.model_dump(exclude={"guests"})
    fields["timezone"] = command.timezone or organizer.timezone
    fields["transparency"] = command.transparency or (
        "transparent" if command.all_day else "opaque")
    details = EventDetails(**_as_instants(fields, fields["timezone"], command.all_day))
    guests = resolve_guests(stores, command.guests)
    event = CalendarEvent.schedule(organizer.id, details, guests)
    stores.save(organizer.id, stores.event_shard(event.id), event)
    return event


def load_event(stores: CalendarStores, event_id: UUID) -> CalendarEvent:
    return stores.load(stores.event_shard(event_id), event_id, CalendarEvent)


def load_for_edit(stores: CalendarStores, user_id: UUID, event_id: UUID,
                  expected_version: int) -> CalendarEvent:
    """The event at the version the client expects; 404 for users who cannot see it,
    a VersionConflictError when the client's copy is stale."""
    event = load_event(stores, event_id)
    if user_id != event.organizer_id and str(user_id) not in event.guests:
        raise NotFoundError(str(event_id))
    event.check_can_edit(user_id)
    if event.version != expected_version:
        raise VersionConflictError(event.version)
    return event


def patch_event(stores: CalendarStores, user_id: UUID, event_id: UUID, command: PatchEvent,
                expected_version: int) -> tuple[CalendarEvent, set[UUID]]:
    """The edited event, and the guests this edit invited (their invitations are new,
    whatever an earlier invitation's answer was)."""
    event = load_for_edit(stores, user_id, event_id, expected_version)
    fields = command.model_dump(exclude_unset=True, exclude={"version", "guests"})
    fields = {k: v for k, v in fields.items() if v is not None or k == "rrule"}
    all_day = fields.get("all_day", event.details.all_day)
    if all_day != event.details.all_day and not {"start", "end"} <= fields.keys():
        raise InvalidEventError("changing all_day needs a new start and end")
    zone_name = fields.get("timezone") or event.details.timezone
    changes = _as_instants(fields, zone_name, all_day)
    invited, uninvited = _guest_changes(stores, event, command.guests)
    event.update(user_id, changes, invited, uninvited)
    _save_edit(stores, user_id, event)
    return event, set(invited)


def split_following(stores: CalendarStores, user_id: UUID, event_id: UUID, key: str,
                    command: PatchEvent, expected_version: int) -> CalendarEvent:
    """This and following instances, in one atomic command (one transaction)."""
    event = load_for_edit(stores, user_id, holder_of(stores, event_id, key), expected_version)
    fields = command.model_dump(exclude_unset=True, exclude={"version", "guests"})
    fields = {k: v for k, v in fields.items() if v is not None or k == "rrule"}
    all_day = fields.get("all_day", event.details.all_day)
    changes = _as_instants(fields, fields.get("timezone") or event.details.timezone, all_day)
    invited, uninvited = _guest_changes(stores, event, command.guests)
    following = event.split(user_id, key, changes, invited, uninvited)
    try:
        stores.save(user_id, stores.event_shard(event.id), event, following)
    except IntegrityError as error:
        raise VersionConflictError(load_event(stores, event.id).version) from error
    return following


def holder_of(stores: CalendarStores, event_id: UUID, key: str) -> UUID:
    """The series that holds instance `key` now: instance ids name the first series, and
    a split hands the later instances on to a new one."""
    event = load_event(stores, event_id)
    while (later := event.continuation_for(key)) is not None:
        event = load_event(stores, later)
    return event.id


def override_instance(stores: CalendarStores, user_id: UUID, event_id: UUID, key: str,
                      command: PatchInstance, expected_version: int) -> CalendarEvent:
    event_id = holder_of(stores, event_id, key)
    event = load_for_edit(stores, user_id, event_id, expected_version)
    event.override_instance(user_id, key, command.model_dump(exclude_unset=True,
                                                              exclude={"version"}))
    _save_edit(stores, user_id, event)
    return event


def cancel_instance(stores: CalendarStores, user_id: UUID, event_id: UUID, key: str,
                    expected_version: int | None) -> CalendarEvent:
    event_id = holder_of(stores, event_id, key)
    event = _load_current(stores, user_id, event_id, expected_version)
    event.cancel_instance(user_id, key)
    _save_edit(stores, user_id, event)
    return event


def cancel_event(stores: CalendarStores, user_id: UUID, event_id: UUID,
                 expected_version: int | None) -> CalendarEvent:
    event = _load_current(stores, user_id, event_id, expected_version)
    event.cancel(user_id)
    _save_edit(stores, user_id, event)
    return event


def _load_current(stores: CalendarStores, user_id: UUID, event_id: UUID,
                  expected_version: int | None) -> CalendarEvent:
    """DELETE takes If-Match optionally: without it, the current version is the expected one."""
    if expected_version is not None:
        return load_for_edit(stores, user_id, event_id, expected_version)
    current = load_event(stores, event_id).version
    return load_for_edit(stores, user_id, event_id, current)


def _save_edit(stores: CalendarStores, user_id: UUID, event: CalendarEvent) -> None:
    try:
        stores.save(user_id, stores.event_shard(event.id), event)
    except IntegrityError as error:
        current = load_event(stores, event.id).version
        raise VersionConflictError(current) from error


# -- invitations ------------------------------------------------------------------------


def rsvp(stores: CalendarStores, guest_id: UUID, event_id: UUID, status: str) -> Invitation:
    """Answer an invitation. Only the guest's own Invitation is written, so concurrent
    edits of the event never conflict with it; a race with the fan-out worker retries."""
    shard = stores.user_shard(guest_id)
    invitation_id = Invitation.create_id(event_id, guest_id)
    for _ in range(RSVP_RETRIES):
        invitation = stores.load(shard, invitation_id, Invitation)
        invitation.respond(status)
        try:
            stores.save(guest_id, shard, invitation)
            return invitation
        except IntegrityError:
            continue
    raise VersionConflictError(invitation.version)


# -- helpers ----------------------------------------------------------------------------


def resolve_guests(stores: CalendarStores, names: Iterable[str]) -> dict[UUID, str]:
    """Map user ids or e-mail addresses to (user id, e-mail); UnknownGuestsError names
    every one that is not a registered user."""
    found: dict[UUID, str] = {}
    unknown: list[str] = []
    for name in dict.fromkeys(names):
        user = _find_user(stores, name)
        if user is None:
            unknown.append(name)
        else:
            found[user.id] = user.email
    if unknown:
        raise UnknownGuestsError(unknown)
    return found


def _find_user(stores: CalendarStores, name: str) -> User | None:
    user_id = User.create_id(normalise_email(name)) if "@" in name else _uuid(name)
    if user_id is None:
        return None
    try:
        return get_user(stores, user_id)
    except NotFoundError:
        return None


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def _guest_changes(stores: CalendarStores, event: CalendarEvent,
                   names: list[str] | None) -> tuple[dict[UUID, str], set[UUID]]:
    if names is None:
        return {}, set()
    wanted = resolve_guests(stores, names)
    current = {UUID(g) for g in event.guests}
    invited = {k: v for k, v in wanted.items() if k not in current}
    return invited, current - set(wanted)


def _as_instants(fields: dict[str, Any], zone_name: str, all_day: bool) -> dict[str, Any]:
    """All-day dates become local midnight in the event's zone (end exclusive)."""
    converted = dict(fields)
    for key in ("start", "end"):
        if isinstance(fields.get(key), date) and not isinstance(fields[key], datetime):
            converted[key] = local_midnight(fields[key], zone_name)
    for key in ("exdates", "rdates"):
        if key in fields and fields[key] is not None:
            converted[key] = tuple(_instant(d, zone_name) for d in fields[key])
    return converted


def _instant(value: date | datetime, zone_name: str) -> datetime:
    return value if isinstance(value, datetime) else local_midnight(value, zone_name)
