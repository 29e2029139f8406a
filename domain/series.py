"""An event's recurrence as the pure `Series` value, built from the JSON-ready records the
aggregate and the projections both keep (overrides keyed by instance key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.recurrence import (
    InstanceOverride,
    Series,
    count_used_before,
    expand,
    instance_key,
    parse_instance_key,
)
from domain.values import EventDetails


def instance_exists(details: EventDetails, key: str) -> bool:
    """Whether the series (ignoring overrides and cancellations) has an instance whose
    original start is the one `key` names."""
    if not (details.rrule or details.rdates):
        return False  # a single event has no instances of its own to address
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




@dataclass(frozen=True)
class SeriesPart:
    """One side of a split series: its details (or changes to them), overrides and
    cancelled instances, all keyed by instance key."""

    changes: dict[str, Any]
    overrides: dict[str, dict[str, Any]]
    cancelled: set[str]
    details: EventDetails


def split_series(details: EventDetails, overrides: dict[str, dict[str, Any]],
                 cancelled: set[str], original: datetime, changes: dict[str, Any]
                 ) -> tuple[SeriesPart, SeriesPart]:
    """End the series just before `original` (the head) and start a new one there with
    `changes` applied (the tail). The tail keeps the overrides, cancellations, EXDATEs and
    RDATEs at or after the split; a COUNT is shared out so the two parts together have as
    many instances as the whole."""
    key = instance_key(original)
    assert details.rrule is not None
    head_changes = {
        "rrule": rule_until(details.rrule, original - timedelta(seconds=1)),
        "exdates": tuple(x for x in details.exdates if x < original),
        "rdates": tuple(r for r in details.rdates if r < original),
    }
    head = SeriesPart(head_changes, {k: v for k, v in overrides.items() if k < key},
                      {c for c in cancelled if c < key}, details.changed(head_changes))
    tail_details = _tail_details(details, original, changes)
    tail = SeriesPart(changes, {k: v for k, v in overrides.items() if k >= key},
                      {c for c in cancelled if c >= key}, tail_details)
    return head, tail


def _tail_details(details: EventDetails, original: datetime,
                  changes: dict[str, Any]) -> EventDetails:
    duration = details.end - details.start
    start = changes.get("start") or original.astimezone(ZoneInfo(details.timezone))
    values = {**changes, "start": start, "end": changes.get("end") or start + duration,
              "exdates": tuple(x for x in details.exdates if x >= original),
              "rdates": tuple(r for r in details.rdates if r >= original)}
    if "rrule" not in changes:
        values["rrule"] = _remaining_rule(details, original)
    return details.changed(values)


def rule_until(rrule: str, last: datetime) -> str:
    """The rule with its end replaced by UNTIL `last` (UTC, RFC 5545 §3.3.10)."""
    parts = [p for p in rrule.split(";") if p.split("=")[0].upper() not in ("COUNT", "UNTIL")]
    until = last.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return ";".join([*parts, f"UNTIL={until}"])


def _remaining_rule(details: EventDetails, original: datetime) -> str | None:
    """A COUNT rule keeps only the instances the head did not take."""
    assert details.rrule is not None
    parts = dict(p.split("=", 1) for p in details.rrule.split(";"))
    count = next((v for k, v in parts.items() if k.upper() == "COUNT"), None)
    if count is None:
        return details.rrule
    rule_only = Series(details.start, details.end, details.timezone, details.rrule)
    remaining = int(count) - count_used_before(rule_only, original)
    return ";".join(f"{k}={remaining if k.upper() == 'COUNT' else v}" for k, v in parts.items())
