"""COUNT used up before an instant, for a "this and following" split (``count_used_before``)."""

from __future__ import annotations

from datetime import datetime

from domain.recurrence.context import _context
from domain.recurrence.dateutil_rrule import _walls
from domain.recurrence.instances import _MAX_PASSED_OVER, _cached_rrule, _instant, _too_costly
from domain.recurrence.model import Series
from domain.recurrence.rule_setup import _rule_setup
from domain.recurrence.skip_ahead import _skip_ahead
from domain.recurrence.wall_time import _utc, _wall_ceiling, _wall_floor


def count_used_before(series: Series, moment: datetime) -> int:
    """How much of the rule's COUNT is used up before ``moment``: DTSTART and the rule
    instances that start before it, counted as COUNT counts them (generated wall times, so
    two wall times that a DST gap makes one instant count twice).  RDATEs, EXDATEs,
    overrides and cancellations play no part.  What a "this and following" split leaves
    for the following series is COUNT minus this.

    Costs what a short window at ``moment`` costs when the COUNT skip-ahead applies (see
    ``_skip_ahead``); otherwise iterates from DTSTART under the same 200 000-instance guard
    as ``expand``.  Raises ValueError for a series without a COUNT rule."""
    context = _context(series)
    moment = _utc(moment, "moment")
    rule, rule_text = context.rule, context.rule_text
    if rule is None or rule_text is None or rule.count is None:
        raise ValueError("count_used_before needs a series with a COUNT rule")
    setup = _rule_setup(rule_text, context.first_wall)
    on_rule = setup.kwargs is not None and setup.count == rule.count
    used = 1 if context.start < moment and not on_rule else 0  # DTSTART, when extra
    if setup.kwargs is None or setup.count is None:
        return used
    dtstart, remaining = _skip_ahead(context, _wall_floor(context.zone, moment))
    used += setup.count - (remaining if remaining is not None else setup.count)
    rrule = _cached_rrule(rule_text, context.first_wall, dtstart, remaining)
    wall_to = _wall_ceiling(context.zone, moment)
    for iterated, wall in enumerate(() if rrule is None else _walls(rrule)):
        if wall >= wall_to:
            break
        if iterated >= _MAX_PASSED_OVER:
            raise _too_costly()
        if _instant(context, wall) < moment:
            used += 1
    return used
