"""The time span an event's instances occupy, as stored in view rows (fixed-width UTC
text so SQL compares it as it compares instants)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.recurrence import series_bounds
from projections.event_state import EventState

FOREVER = "9999-12-31T00:00:00Z"
# All-day events keep their calendar date for every viewer; their stored span is widened
# by the largest UTC offsets so a viewer in any zone finds them.
ALL_DAY_SLACK = timedelta(hours=14)


def utc_text(instant: datetime) -> str:
    """Fixed-width UTC text: orders the same as the instants it names."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span_of(state: EventState) -> tuple[str, str]:
    first, last = series_bounds(state.series)
    slack = ALL_DAY_SLACK if state.details.all_day else timedelta(0)
    end = FOREVER if last is None else utc_text(last + slack)
    return utc_text(first - slack), end
