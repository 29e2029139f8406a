"""The values recurrence works on and hands back: a ``Series`` in, ``Occurrence``s out.

``Series`` and ``InstanceOverride`` describe a recurring event's timing (RFC 5545 §3.8.5
recurrence, §3.8.4.4 RECURRENCE-ID); ``Occurrence`` is one expanded instance in UTC;
``ExpansionStats`` measures the work an expansion did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

MAX_INSTANCES_PER_QUERY = 10_000


@dataclass(frozen=True)
class InstanceOverride:
    """A changed instance of a series (RFC 5545 §3.8.4.4 RECURRENCE-ID)."""

    start: datetime
    end: datetime
    title: str | None = None
    location: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Series:
    """A recurring (or single) event as far as its timing is concerned."""

    start: datetime
    end: datetime
    timezone: str
    rrule: str | None = None
    exdates: tuple[datetime, ...] = ()
    rdates: tuple[datetime, ...] = ()
    overrides: Mapping[datetime, InstanceOverride] = field(default_factory=dict)
    cancelled: frozenset[datetime] = frozenset()


@dataclass(frozen=True)
class Occurrence:
    """One instance of a series; all datetimes are UTC."""

    original_start: datetime
    start: datetime
    end: datetime
    override: InstanceOverride | None


@dataclass
class ExpansionStats:
    """What expansions cost, in work rather than seconds: pass one to ``expand``.

    ``rule_iterations`` counts the rule instances drawn from the RRULE iterator (dateutil),
    those passed over on the way to the window included; ``counted_without_iterating``
    counts the COUNT instances before the window that the skip-ahead accounted for by
    arithmetic instead.  One object may accumulate over many calls.  The one-off work of
    analysing a rule (``_rule_setup``), cached per rule and DTSTART, is not counted: it does
    not depend on the window."""

    rule_iterations: int = 0
    counted_without_iterating: int = 0
