"""Expansion of recurring calendar series (RFC 5545 §3.3.10 RECUR, §3.8.5 recurrence).

A series is anchored at DTSTART and expanded in the *wall-clock* time of its IANA zone: a
09:00 Europe/Paris weekly meeting stays at 09:00 local across DST changes, so its UTC
instant moves.  ``dateutil.rrule`` generates naive local times; only then is the zone
attached and the instant taken.

Wall-clock edge cases (RFC 5545 §3.3.5):

* A local time that does not exist (spring-forward gap) is interpreted with the UTC offset
  in effect *before* the gap: 02:30 on a New York spring-forward day becomes 03:30 EDT.
  ``zoneinfo`` does exactly this for ``fold=0``.
* A local time that occurs twice (fall-back overlap) means its first occurrence (``fold=0``).
* Two wall times can thus name one instant; instances are unique by their UTC instant.

Further decisions:

* DTSTART is always an instance, even when the rule would not produce it (RFC 2445 said so;
  RFC 5545 §3.8.5.3 leaves an unsynchronised DTSTART undefined).  COUNT includes it, as
  §3.3.10 says "the DTSTART property value always counts as the first occurrence".
* UNTIL in UTC form (``...Z``) bounds the instance's instant (§3.3.10); a date-only UNTIL is
  inclusive through that local date; a floating date-time UNTIL is read as local time.
* Recurring instances have whole-second precision (a DATE-TIME has no fractions, §3.3.5).
* BYSECOND=60 is accepted (§3.3.10) but never produced: a leap second has no datetime.
* Rule instances are generated for years 2 to 9998 only.
* An occurrence lies in a window [a, b) when ``start < b and end > a``; a zero-length one
  (end == start) is a point and lies in the window when ``a <= start < b``, so that a
  window split in two never loses it.

Cost is bounded: the rule is iterated from a shifted DTSTART just before the window, a whole
number of periods after the original one, instead of from DTSTART (``_skip_ahead``):

* without COUNT, for every rule without BYSETPOS, BYWEEKNO or BYYEARDAY
  (``_aligned_dtstart``);
* with COUNT, when the number of instances per period is known without iterating, so that
  the instances before the shifted DTSTART are counted by arithmetic and taken off the
  COUNT: SECONDLY..WEEKLY rules whose only parts are plain BYDAY, BYHOUR, BYMINUTE and
  BYSECOND (``_FixedCadence``), and MONTHLY and YEARLY rules without BYSETPOS, BYWEEKNO or
  BYYEARDAY, counted per calendar shape over the 400-year Gregorian cycle
  (``_CalendarCadence``).  COUNT counts generated wall times, as dateutil does: a DST gap
  that makes two wall times one instant leaves one instance but uses up two.

Other rules iterate from DTSTART and stop as soon as instances pass the window; when more
than 200 000 instances would have to be passed over on the way (say
``FREQ=SECONDLY;BYYEARDAY=1;COUNT=1000000000`` asked about a year later),
TooManyInstancesError is raised instead of spending seconds on it.  A rule that can never
produce an instance from its DTSTART (``FREQ=DAILY;INTERVAL=7;BYDAY=TU`` from a Monday) is
recognised as such instead of being searched up to the year 9999, for the SECONDLY..WEEKLY
shapes above and for MONTHLY and YEARLY rules with COUNT.  ``ExpansionStats`` counts the
work done.

The package, one job per module:

* ``model``: ``Series``, ``InstanceOverride``, ``Occurrence``, ``ExpansionStats``.
* ``rule``, ``validation``: the RRULE grammar, ``validate_rrule``.
* ``instance_keys``: ``instance_key``, ``parse_instance_key``.
* ``wall_time``: zones, UTC, the wall times that cover an instant.
* ``context``: a series prepared for expansion.
* ``rule_setup``, ``fixed_cadence``, ``calendar_cadence``: a rule anchored at its DTSTART
  and how its instances repeat.
* ``skip_ahead``: the shifted DTSTART and the COUNT left for it.
* ``dateutil_rrule``, ``instances``: rule instances between two wall times.
* ``expansion``, ``bounds``, ``count_used``: ``expand``, ``series_bounds``,
  ``count_used_before``.
"""

from domain.recurrence.bounds import series_bounds
from domain.recurrence.calendar_cadence import _cycle_periods as _cycle_periods
from domain.recurrence.count_used import count_used_before
from domain.recurrence.expansion import expand
from domain.recurrence.instance_keys import instance_key, parse_instance_key
from domain.recurrence.instances import _cached_rrule as _cached_rrule
from domain.recurrence.model import (
    MAX_INSTANCES_PER_QUERY,
    ExpansionStats,
    InstanceOverride,
    Occurrence,
    Series,
)
from domain.recurrence.rule_setup import _rule_setup as _rule_setup
from domain.recurrence.validation import _parse_rule as _parse_rule
from domain.recurrence.validation import validate_rrule
from domain.recurrence.wall_time import _offset_extremes as _offset_extremes

# The private names above are the caches that bench/recurrence_cost.py clears for a cold run.
__all__ = [
    "MAX_INSTANCES_PER_QUERY",
    "ExpansionStats",
    "InstanceOverride",
    "Occurrence",
    "Series",
    "count_used_before",
    "expand",
    "instance_key",
    "parse_instance_key",
    "series_bounds",
    "validate_rrule",
]
