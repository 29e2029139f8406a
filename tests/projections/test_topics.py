"""Each projection names the topics it reads (`Projection.topics`); the Kafka runners do
not decode the rest. A name left out would lose changes in the distributed deployment
only, so: applying only the named events must give exactly the tables that applying
every event gives, for a history that uses every kind of domain event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.utils import get_topic

from commands.event_states import listing_of
from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation
from domain.user import User
from domain.values import EventDetails, WorkingHours
from infra.bootstrap import all_projections
from infra.sqlite_views import SqliteViews
from projections.base import Projection

START = datetime(2026, 12, 7, 9, tzinfo=UTC)


def every_kind_of_event() -> list[Any]:
    organizer = User.register("o@example.org", "O", "UTC", "monday", WorkingHours())
    guest = User.register("g@example.org", "G", "UTC", "monday", WorkingHours())
    guest.change_profile({"timezone": "Europe/Paris"})
    details = EventDetails("Weekly", START, START + timedelta(hours=1), "UTC",
                           rrule="FREQ=WEEKLY;COUNT=10")
    event = CalendarEvent.schedule(organizer.id, details, {guest.id: guest.email})
    invitation = Invitation(event.id, guest.id, organizer.id, {}, 1, listing_of(event))
    invitation.respond("yes")
    event.update(organizer.id, {"title": "Weekly sync"}, {}, set())
    invitation.change_summary({}, event.version, listing_of(event))
    event.override_instance(organizer.id, "20261214T090000Z",
                            {"start": START + timedelta(days=7, hours=1),
                             "end": START + timedelta(days=7, hours=2)})
    event.cancel_instance(organizer.id, "20261221T090000Z")
    following = event.split(organizer.id, "20261228T090000Z", {"title": "Later"}, {}, set())
    invitation.withdraw("uninvited", event.version)
    invitation.renew({}, event.version + 1, listing_of(event))
    following.cancel(organizer.id)
    return [e for aggregate in (organizer, guest, event, following, invitation)
            for e in aggregate.collect_events()]


def tables_after(projection: Projection, events: list[Any], path: Path) -> dict[str, Any]:
    views = SqliteViews(path)
    with views.transaction() as tx:
        for statement in projection.schema():
            tx.execute(statement)
        for event in events:
            projection.process(event, tx)
    dump = {t: sorted(views.query(f"SELECT * FROM {t}")) for t in projection.tables()}
    views.close()
    return dump


@pytest.mark.parametrize("projection", all_projections(), ids=lambda p: p.name)
def test_the_named_topics_are_all_a_projection_reads(projection: Projection,
                                                     tmp_path: Path) -> None:
    events = every_kind_of_event()
    named = [e for e in events if get_topic(type(e)).startswith(projection.topics)]
    everything = tables_after(projection, events, tmp_path / "all.sqlite")
    assert any(everything.values())
    assert tables_after(projection, named, tmp_path / "named.sqlite") == everything
