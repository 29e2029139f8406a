"""Rules whose parts leave no day after DTSTART are refused (they would make dateutil
search to the year 9999 on every query); every other MONTHLY/YEARLY rule is accepted."""

from __future__ import annotations

from datetime import datetime

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidRecurrenceError
from domain.recurrence import validate_rrule
from domain.rule_reach import check_rule_reaches_a_day

START = datetime(2026, 1, 5, 9)


@pytest.mark.parametrize("rule", [
    "FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1",
    "FREQ=MONTHLY;INTERVAL=12;BYMONTH=3",
    "FREQ=MONTHLY;INTERVAL=12;BYMONTH=3;BYMONTHDAY=5",
    "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4,6,9,11",
    "FREQ=YEARLY;BYMONTH=2;BYDAY=5MO;BYMONTHDAY=1,2,3",
])
def test_rules_that_reach_no_day_are_refused(rule: str) -> None:
    with pytest.raises(InvalidRecurrenceError, match="no day"):
        check_rule_reaches_a_day(rule, START)


@pytest.mark.parametrize("rule", [
    "FREQ=MONTHLY", "FREQ=YEARLY", "FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=29",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=MONTHLY;BYDAY=-1SU",
    "FREQ=MONTHLY;COUNT=3;BYDAY=5MO;BYMONTHDAY=1",  # COUNT rules are bounded by counting
])
def test_rules_that_reach_a_day_are_accepted(rule: str) -> None:
    check_rule_reaches_a_day(rule, START)


ordinal = st.sampled_from(["", "1", "2", "-1", "4", "5", "-5"])
weekday = st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"])
rules = st.builds(
    lambda freq, interval, days, monthdays, months: ";".join(filter(None, [
        f"FREQ={freq}", f"INTERVAL={interval}",
        "BYDAY=" + ",".join(days) if days else "",
        "BYMONTHDAY=" + ",".join(map(str, monthdays)) if monthdays else "",
        "BYMONTH=" + ",".join(map(str, months)) if months else ""])),
    st.sampled_from(["MONTHLY", "YEARLY"]), st.integers(1, 13),
    st.lists(st.builds(lambda o, d: o + d, ordinal, weekday), max_size=2, unique=True),
    st.lists(st.integers(-31, 31).filter(bool), max_size=2, unique=True),
    st.lists(st.integers(1, 12), max_size=2, unique=True))


@settings(max_examples=300, deadline=None)
@given(rules)
def test_an_accepted_rule_has_an_instance_after_dtstart(rule: str) -> None:
    try:
        validate_rrule(rule)
        check_rule_reaches_a_day(rule, START)
    except InvalidRecurrenceError:
        return
    assert rrulestr(rule, dtstart=START).after(START) is not None
