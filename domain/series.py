"""An event's recurrence as the pure `Series` value, built from the JSON-ready records the
aggregate and the projections both keep (overrides keyed by instance key)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.recurrence import InstanceOverride, Series, expand, parse_instance_key
from domain.values import EventDetails


def instance_exists(details: EventDetails, key: str) -> bool:
    """Whether the series (ignoring overrides and cancellations) has an instance whose
    original start is the one `key` names."""
    try:
        original = parse_instance_key(key)
    except ValueError:
        return False
    found = expand(series_of(details, {}, set()), original, original + timedelta(seconds=1))
    return any(o.original_start == original for o in found)


def surviving_overrides(
    details: EventDetails, overrides: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Editing a series keeps the overrides whose original instance still exists and
    drops the others; the Updated event that caused the drop is their record."""
    return {k: v for k, v in overrides.items() if instance_exists(details, k)}


def series_of(
    details: EventDetails,
    overrides: dict[str, dict[str, Any]],
    cancelled: set[str] | frozenset[str],
) -> Series:
    """The recurrence view of an event's state, shared by the aggregate and projections."""
    return Series(
        start=details.start,
        end=details.end,
        timezone=details.timezone,
        rrule=details.rrule,
        exdates=details.exdates,
        rdates=details.rdates,
        overrides={parse_instance_key(k): _override(v) for k, v in overrides.items()},
        cancelled=frozenset(parse_instance_key(k) for k in cancelled),
    )


def _override(record: dict[str, Any]) -> InstanceOverride:
    return InstanceOverride(
        start=datetime.fromisoformat(record["start"]),
        end=datetime.fromisoformat(record["end"]),
        title=record.get("title"),
        location=record.get("location"),
        description=record.get("description"),
    )


