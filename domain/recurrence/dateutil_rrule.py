"""The ``dateutil.rrule`` adapter: build a rule, iterate its wall times.

dateutil reports a rule without instances by raising ValueError, when built or while
iterated; both become "no instances" here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dateutil import rrule as du

from domain.recurrence.rule import _Frequency


def _build_rrule(freq: _Frequency, dtstart: datetime, count: int | None,
                 kwargs: dict[str, Any]) -> du.rrule | None:
    try:
        return du.rrule(freq, dtstart=dtstart, count=count, cache=False, **kwargs)
    except ValueError:
        # dateutil found the BYxxx values unreachable from DTSTART with this INTERVAL
        # (e.g. FREQ=HOURLY;INTERVAL=2;BYHOUR=3 at an even hour): no rule instances.
        return None


def _walls(rule: du.rrule) -> Iterator[datetime]:
    try:
        yield from rule
    except ValueError:  # dateutil's own "empty rule" detection, raised mid-iteration
        return
