"""An event's current state as projections keep it: a JSON document rebuilt from the
CalendarEvent's domain events (which carry changes, not whole states)."""

from __future__ import annotations

import json
from typing import Any

from domain.recurrence import Series
from domain.series import series_of, surviving_overrides
from domain.values import EventDetails, parse_changes

LISTING_KEYS = ("event_id", "organizer_id", "details", "overrides", "cancelled", "series_id",
                "version")


class EventState:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self._details: EventDetails | None = None  # parsed once per read of the record

    @classmethod
    def scheduled(cls, e: Any) -> EventState:
        return cls({
            "event_id": str(e.originator_id), "organizer_id": str(e.organizer_id),
            "details": e.details, "guests": e.guests,
            "overrides": dict(getattr(e, "overrides", None) or {}),
            "cancelled": sorted(getattr(e, "cancelled_instances", None) or []),
            "status": "confirmed", "version": e.originator_version,
            "series_id": str(e.series_id) if e.series_id else None,
            "created_at": e.timestamp.isoformat(), "updated_at": e.timestamp.isoformat(),
        })

    @classmethod
    def listed(cls, listing: dict[str, Any]) -> EventState:
        """The event as a calendar entry shows it (`listing`): no guest list."""
        return cls({**listing, "guests": {}, "status": "confirmed"})

    def listing(self) -> dict[str, Any]:
        """What a guest's calendar shows of the event, carried by their Invitation:
        enough to place and render its instances, without the guest list (which would
        make every guest's copy grow with it)."""
        return {key: self.doc[key] for key in LISTING_KEYS}

    @classmethod
    def loads(cls, text: str) -> EventState:
        return cls(json.loads(text))

    def dumps(self) -> str:
        return json.dumps(self.doc, separators=(",", ":"))

    def apply(self, e: Any) -> None:
        """Fold one later domain event of the same CalendarEvent into the state."""
        name = type(e).__name__
        if name == "Updated":
            self._updated(e)
        elif name == "InstanceOverridden":
            self.doc["overrides"][e.instance] = e.override
        elif name == "InstanceCancelled":
            self.doc["cancelled"].append(e.instance)
            self.doc["overrides"].pop(e.instance, None)
        elif name == "Cancelled":
            self.doc["status"] = "cancelled"
        elif name == "SeriesSplit":
            self._split(e)
        self.doc["version"] = e.originator_version
        self.doc["updated_at"] = e.timestamp.isoformat()
        self._details = None

    def _updated(self, e: Any) -> None:
        details = self.details.changed(parse_changes(e.changes))
        self.doc["details"] = details.as_record()
        self.doc["overrides"] = surviving_overrides(details, self.doc["overrides"])
        self.doc["guests"].update(e.invited)
        for guest_id in e.uninvited:
            self.doc["guests"].pop(guest_id, None)

    def _split(self, e: Any) -> None:
        self.doc["details"] = self.details.changed(parse_changes(e.changes)).as_record()
        self.doc["overrides"] = dict(e.overrides)
        self.doc["cancelled"] = list(e.cancelled)
        self.doc["continued_as"] = str(e.continued_as)

    @classmethod
    def following(cls, e: Any, head: EventState) -> EventState:
        """The new series a SeriesSplit starts, from the payload it carries."""
        tail = e.following
        return cls({
            "event_id": tail["event_id"], "organizer_id": head.organizer_id,
            "details": tail["details"], "guests": dict(tail["guests"]),
            "overrides": dict(tail["overrides"]), "cancelled": list(tail["cancelled"]),
            "status": "confirmed", "version": 1, "series_id": tail["series_id"],
            # The new series' own creation time, so whichever of SeriesSplit and its
            # Scheduled arrives first (they may travel on different partitions) writes
            # the same row.
            "created_at": tail["created_at"], "updated_at": tail["created_at"],
        })

    @property
    def series_root(self) -> str:
        """Instance ids use the first series' id, so they survive splits."""
        return str(self.doc.get("series_id") or self.doc["event_id"])

    @property
    def details(self) -> EventDetails:
        if self._details is None:
            self._details = EventDetails.from_record(self.doc["details"])
        return self._details

    @property
    def series(self) -> Series:
        return series_of(self.details, self.doc["overrides"], set(self.doc["cancelled"]))

    @property
    def cancelled(self) -> bool:
        return bool(self.doc["status"] == "cancelled")

    @property
    def organizer_id(self) -> str:
        return str(self.doc["organizer_id"])

    @property
    def guest_ids(self) -> list[str]:
        return list(self.doc["guests"])

    @property
    def participants(self) -> list[str]:
        return [self.organizer_id, *self.guest_ids]
