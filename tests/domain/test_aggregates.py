"""The aggregates' guards and state, on their own (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.calendar_event import CalendarEvent
from domain.errors import (
    EventCancelledError,
    InvalidEventError,
    NoSuchInstanceError,
    NotOrganizerError,
    SplitAtFirstInstanceError,
)
from domain.invitation import Invitation, InvitationWithdrawnError
from domain.routing import routing_key, routing_key_of_event
from domain.user import User
from domain.values import EventDetails, WorkingHours

START = datetime(2026, 11, 2, 9, tzinfo=UTC)


def weekly(count: int = 4) -> CalendarEvent:
    details = EventDetails("Sync", START, START + timedelta(hours=1), "UTC",
                           rrule=f"FREQ=WEEKLY;COUNT={count}")
    return CalendarEvent.schedule(uuid4(), details, {})


def test_users_with_the_same_email_in_any_case_share_an_id() -> None:
    first = User.register("Ann@Example.org", "Ann", "UTC", "monday", WorkingHours())
    assert first.id == User.create_id("ann@example.org")
    assert first.email == "ann@example.org"


def test_unknown_zones_and_backwards_times_are_refused() -> None:
    with pytest.raises(InvalidEventError):
        User.register("x@example.org", "", "Mars/Olympus", "monday", WorkingHours())
    with pytest.raises(InvalidEventError, match="after start"):
        CalendarEvent.schedule(uuid4(), EventDetails("x", START, START, "UTC"), {})
    with pytest.raises(InvalidEventError, match="31 days"):
        CalendarEvent.schedule(uuid4(), EventDetails(
            "x", START, START + timedelta(days=32), "UTC"), {})


def test_every_command_adds_exactly_one_version() -> None:
    event = weekly()
    organizer = event.organizer_id
    event.update(organizer, {"title": "New"}, {uuid4(): "g@example.org"}, set())
    event.override_instance(organizer, "20261109T090000Z", {"title": "Moved"})
    event.cancel_instance(organizer, "20261116T090000Z")
    assert event.version == 4
    assert event.overrides["20261109T090000Z"]["title"] == "Moved"
    assert event.cancelled_instances == {"20261116T090000Z"}


def test_the_organizer_is_never_a_guest_and_only_the_organizer_edits() -> None:
    organizer = uuid4()
    event = CalendarEvent.schedule(organizer, EventDetails(
        "x", START, START + timedelta(hours=1), "UTC"), {organizer: "me@example.org"})
    assert event.guests == {}
    with pytest.raises(NotOrganizerError):
        event.update(uuid4(), {"title": "mine"}, {}, set())


def test_a_cancelled_event_cannot_change() -> None:
    event = weekly()
    event.cancel(event.organizer_id)
    with pytest.raises(EventCancelledError):
        event.update(event.organizer_id, {"title": "late"}, {}, set())


def test_instances_must_exist() -> None:
    event = weekly(count=2)
    with pytest.raises(NoSuchInstanceError):
        event.override_instance(event.organizer_id, "20261116T090000Z", {"title": "x"})
    with pytest.raises(NoSuchInstanceError):
        event.cancel_instance(event.organizer_id, "not-a-key")


def test_editing_the_series_drops_overrides_of_instances_that_no_longer_exist() -> None:
    event = weekly()
    event.override_instance(event.organizer_id, "20261123T090000Z", {"title": "last"})
    event.override_instance(event.organizer_id, "20261109T090000Z", {"title": "second"})
    event.update(event.organizer_id, {"rrule": "FREQ=WEEKLY;COUNT=2"}, {}, set())
    assert set(event.overrides) == {"20261109T090000Z"}


def test_split_ends_the_series_and_starts_another_there() -> None:
    event = weekly()
    following = event.split(event.organizer_id, "20261116T090000Z", {"title": "B"}, {}, set())
    assert event.details.rrule == "FREQ=WEEKLY;UNTIL=20261116T085959Z"
    assert following.details.rrule == "FREQ=WEEKLY;COUNT=2"
    assert (following.series_id, following.details.title) == (event.id, "B")
    assert event.continuation_for("20261123T090000Z") == following.id
    assert event.continuation_for("20261109T090000Z") is None
    other = weekly()
    with pytest.raises(SplitAtFirstInstanceError):
        other.split(other.organizer_id, "20261102T090000Z", {}, {}, set())


def test_event_ids_carry_the_organizers_routing_key() -> None:
    event = weekly()
    assert routing_key_of_event(event.id) == routing_key(event.organizer_id)


def test_invitations_have_deterministic_ids_and_refuse_answers_once_withdrawn() -> None:
    event_id, guest_id = uuid4(), uuid4()
    invitation = Invitation(event_id, guest_id, uuid4(), {}, 1)
    assert invitation.id == Invitation.create_id(event_id, guest_id)
    invitation.respond("yes")
    assert not invitation.is_behind(1) and invitation.is_behind(2)
    invitation.withdraw("uninvited", 2)
    with pytest.raises(InvitationWithdrawnError):
        invitation.respond("no")
    invitation.renew({}, 3)
    assert (invitation.active, invitation.rsvp_status) == (True, "pending")
