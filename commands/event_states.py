"""An aggregate's state as the projections keep it (projections.event_state), for the
write side and its adapters: the response to a write, the fan-out's copy for guests, and
the read-your-own-writes fallback."""

from __future__ import annotations

from typing import Any

from domain.calendar_event import CalendarEvent
from projections.event_state import EventState


def state_of(event: CalendarEvent) -> EventState:
    """The same document the projection folds from the event's domain events."""
    return EventState({
        "event_id": str(event.id), "organizer_id": str(event.organizer_id),
        "details": event.details.as_record(), "guests": dict(event.guests),
        "overrides": dict(event.overrides), "cancelled": sorted(event.cancelled_instances),
        "status": "cancelled" if event.cancelled else "confirmed", "version": event.version,
        "series_id": str(event.series_id) if event.series_id else None,
        "created_at": event.created_on.isoformat(), "updated_at": event.modified_on.isoformat(),
    })


def listing_of(event: CalendarEvent) -> dict[str, Any]:
    """What the guest's calendar shows of the event (their Invitation carries it)."""
    return state_of(event).listing()
