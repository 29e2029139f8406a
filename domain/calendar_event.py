"""The CalendarEvent aggregate: one event or recurring series, owned by its organizer.

Every command produces exactly one domain event, so the aggregate's version (the OCC
token clients send back) grows by one per successful edit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    EventCancelledError,
    NoSuchInstanceError,
    NotOrganizerError,
    SplitAtFirstInstanceError,
)
from domain.recurrence import Series, parse_instance_key
from domain.routing import event_id_for
from domain.series import instance_exists, series_of, split_series, surviving_overrides
from domain.values import EventDetails, parse_changes, record_changes

MAX_GUESTS = 5000


class CalendarEvent(Aggregate):
    TOPIC = "calendar:CalendarEvent"

    class Created(Aggregate.Created):
        """Unused; the library wants every event class of the aggregate named."""

        TOPIC = "calendar:CalendarEvent.Created"

    @staticmethod
    def create_id(organizer_id: UUID, **_: Any) -> UUID:
        return event_id_for(organizer_id)

    @event("Scheduled", topic="calendar:CalendarEvent.Scheduled")
    def __init__(
        self,
        organizer_id: UUID,
        details: dict[str, Any],
        guests: dict[str, str],
        series_id: UUID | None,
        by: UUID,
        overrides: dict[str, dict[str, Any]] | None = None,
        cancelled_instances: list[str] | None = None,
    ) -> None:
        self.organizer_id = organizer_id
        self.details = EventDetails.from_record(details)
        self.guests = dict(guests)
        self.series_id = series_id
        self.overrides: dict[str, dict[str, Any]] = dict(overrides or {})
        self.cancelled_instances: set[str] = set(cancelled_instances or [])
        self.cancelled = False
        self.continued_as: UUID | None = None
        self.split_at: str | None = None

    @classmethod
    def schedule(
        cls, organizer_id: UUID, details: EventDetails, guests: dict[UUID, str],
        series_id: UUID | None = None,
    ) -> CalendarEvent:
        details.check()
        guests.pop(organizer_id, None)
        record = {str(k): v for k, v in guests.items()}
        return cls(organizer_id, details.as_record(), record, series_id, by=organizer_id)

    # -- guards -----------------------------------------------------------------------

    def check_can_edit(self, user_id: UUID) -> None:
        if user_id != self.organizer_id:
            raise NotOrganizerError("only the organizer may change this event")
        if self.cancelled:
            raise EventCancelledError("the event is cancelled")

    def check_instance(self, key: str) -> datetime:
        """The original start of instance `key`; raises when the series has no such one."""
        if not instance_exists(self.details, key):
            raise NoSuchInstanceError(f"no instance {key!r} in this series")
        return parse_instance_key(key)

    # -- commands ---------------------------------------------------------------------

    def update(
        self, by: UUID, changes: dict[str, Any], invited: dict[UUID, str], uninvited: set[UUID]
    ) -> None:
        self.check_can_edit(by)
        self.details.changed(changes).check()
        invited = {k: v for k, v in invited.items() if k != self.organizer_id}
        new_guests = {str(k): v for k, v in invited.items() if str(k) not in self.guests}
        gone = sorted(str(u) for u in uninvited if str(u) in self.guests)
        self._updated(record_changes(changes), new_guests, gone, by)

    @event("Updated", topic="calendar:CalendarEvent.Updated")
    def _updated(
        self, changes: dict[str, Any], invited: dict[str, str], uninvited: list[str], by: UUID
    ) -> None:
        self.details = self.details.changed(parse_changes(changes))
        self.guests.update(invited)
        for guest_id in uninvited:
            self.guests.pop(guest_id, None)
        self._drop_orphaned_overrides()

    def override_instance(self, by: UUID, key: str, changes: dict[str, Any]) -> None:
        self.check_can_edit(by)
        original = self.check_instance(key)
        current = self.overrides.get(key, {})
        start = changes.get("start") or _parse(current.get("start")) or original
        end = changes.get("end") or _parse(current.get("end")) or original + self.duration
        EventDetails(**{**_title_of(self, changes), "start": start, "end": end,
                        "timezone": self.details.timezone}).check()
        record = {**current, **record_changes(changes), "start": start.isoformat(),
                  "end": end.isoformat()}
        self._instance_overridden(key, record, by)

    @event("InstanceOverridden", topic="calendar:CalendarEvent.InstanceOverridden")
    def _instance_overridden(self, instance: str, override: dict[str, Any], by: UUID) -> None:
        self.overrides[instance] = override

    def cancel_instance(self, by: UUID, key: str) -> None:
        self.check_can_edit(by)
        self.check_instance(key)
        self._instance_cancelled(key, by)

    @event("InstanceCancelled", topic="calendar:CalendarEvent.InstanceCancelled")
    def _instance_cancelled(self, instance: str, by: UUID) -> None:
        self.cancelled_instances.add(instance)
        self.overrides.pop(instance, None)

    def cancel(self, by: UUID) -> None:
        self.check_can_edit(by)
        self._cancelled(by)

    @event("Cancelled", topic="calendar:CalendarEvent.Cancelled")
    def _cancelled(self, by: UUID) -> None:
        self.cancelled = True

    def split(self, by: UUID, key: str, changes: dict[str, Any], invited: dict[UUID, str],
              uninvited: set[UUID]) -> CalendarEvent:
        """"This and following": end this series before instance `key` and start a new
        series there with the changes. Both aggregates are saved in one transaction, and
        the SeriesSplit event carries the whole new series, so projections switch from
        one to the other in a single step (never both, never neither)."""
        self.check_can_edit(by)
        original = self.check_instance(key)
        if original == self.details.start.astimezone(original.tzinfo):
            raise SplitAtFirstInstanceError("edit the whole series to change it from its start")
        head, tail = split_series(self.details, self.overrides, self.cancelled_instances,
                                  original, changes)
        guests = {k: v for k, v in self.guests.items() if UUID(k) not in uninvited}
        guests.update({str(k): v for k, v in invited.items() if k != self.organizer_id})
        tail.details.check()
        following = CalendarEvent(self.organizer_id, tail.details.as_record(), guests,
                                  self.series_id or self.id, by, tail.overrides,
                                  sorted(tail.cancelled))
        self._series_split(record_changes(head.changes), head.overrides, sorted(head.cancelled),
                           key, following.id, following_record(following), by)
        return following

    @event("SeriesSplit", topic="calendar:CalendarEvent.SeriesSplit")
    def _series_split(self, changes: dict[str, Any], overrides: dict[str, dict[str, Any]],
                      cancelled: list[str], split_at: str, continued_as: UUID,
                      following: dict[str, Any], by: UUID) -> None:
        self.details = self.details.changed(parse_changes(changes))
        self.overrides = dict(overrides)
        self.cancelled_instances = set(cancelled)
        self.split_at = split_at
        self.continued_as = continued_as

    def continuation_for(self, key: str) -> UUID | None:
        """The later series that holds instance `key`, if this one was split before it."""
        if self.split_at is not None and key >= self.split_at:
            return self.continued_as
        return None

    # -- queries ----------------------------------------------------------------------

    @property
    def duration(self) -> timedelta:
        return self.details.end - self.details.start

    def series(self, overrides: bool = True) -> Series:
        return series_of(self.details, self.overrides if overrides else {},
                         self.cancelled_instances)

    def _drop_orphaned_overrides(self) -> None:
        self.overrides = surviving_overrides(self.details, self.overrides)


def following_record(event: CalendarEvent) -> dict[str, Any]:
    """The new series as the SeriesSplit event carries it (what projections need)."""
    return {"event_id": str(event.id), "details": event.details.as_record(),
            "guests": dict(event.guests), "series_id": str(event.series_id),
            "overrides": dict(event.overrides), "cancelled": sorted(event.cancelled_instances),
            "created_at": event.created_on.isoformat()}


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _title_of(aggregate: CalendarEvent, changes: dict[str, Any]) -> dict[str, Any]:
    return {"title": changes.get("title") or aggregate.details.title}


