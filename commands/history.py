"""The audit trail of one event, read from the event store: every domain event of the
CalendarEvent, oldest first, with who did it and what changed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.service import CalendarStores

TYPES = {"Scheduled": "created", "Updated": "updated",
         "InstanceOverridden": "instance_overridden",
         "InstanceCancelled": "instance_cancelled", "Cancelled": "cancelled",
         "SeriesSplit": "series_split"}


class EventStoreHistory:
    def __init__(self, stores: CalendarStores) -> None:
        self.stores = stores

    def history(self, user_id: UUID, event_id: UUID) -> list[dict[str, Any]] | None:
        events = list(self.stores.event_shard(event_id).events.get(event_id))
        if not events or not _may_see(user_id, events):
            return None
        return [_entry(e) for e in events]


def _may_see(user_id: UUID, events: list[Any]) -> bool:
    """Organizer and current guests see the trail."""
    guests = set(events[0].guests)
    for e in events[1:]:
        guests |= set(getattr(e, "invited", {}))
        guests -= set(getattr(e, "uninvited", []))
    return user_id == events[0].organizer_id or str(user_id) in guests


def _entry(e: Any) -> dict[str, Any]:
    kind = type(e).__name__
    return {"version": e.originator_version, "type": TYPES.get(kind, kind),
            "at": e.timestamp.isoformat(), "by": str(e.by), "changes": _changes(kind, e)}


def _changes(kind: str, e: Any) -> dict[str, Any]:
    if kind == "Scheduled":
        return {**e.details, "guests": sorted(e.guests)}
    if kind == "Updated":
        changes = dict(e.changes)
        if e.invited:
            changes["guests_added"] = sorted(e.invited)
        if e.uninvited:
            changes["guests_removed"] = list(e.uninvited)
        return changes
    if kind == "InstanceOverridden":
        return {"instance": e.instance, **e.override}
    if kind == "InstanceCancelled":
        return {"instance": e.instance}
    if kind == "SeriesSplit":
        return {**e.changes, "split_at": e.split_at, "continued_as": str(e.continued_as)}
    return {}
