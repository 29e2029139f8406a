"""Each projection on its own, fed the domain events of real aggregates, on an in-memory
and a file SQLite view database: the rows it writes are the ones the views need."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from commands.event_states import listing_of
from domain.calendar_event import CalendarEvent
from domain.freebusy import slot_masks, union
from domain.invitation import Invitation
from domain.recurrence import expand
from domain.user import User
from domain.values import EventDetails, WorkingHours
from infra.sqlite_views import SqliteViews
from projections.base import Projection
from projections.calendar import CalendarProjection
from projections.freebusy import FreeBusyProjection
from projections.inbox import InboxProjection
from projections.masks import mask_from_bytes
from projections.rsvps import RsvpProjection
from projections.users import UsersProjection
from read_api.queries import SqlBusyStore, Window, busy_masks

START = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.fixture(params=["memory", "file"])
def views(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteViews]:
    path = Path(":memory:") if request.param == "memory" else tmp_path / "views.sqlite"
    store = SqliteViews(path)
    yield store
    store.close()


def project(views: SqliteViews, projection: Projection, *events: Any) -> None:
    with views.transaction() as tx:
        for statement in projection.schema():
            tx.execute(statement)
        for event in events:
            projection.process(event, tx)


def meeting(**changes: Any) -> tuple[CalendarEvent, User, User]:
    organizer = User.register(f"{uuid4()}@example.org", "", "UTC", "monday", WorkingHours())
    guest = User.register(f"{uuid4()}@example.org", "", "UTC", "monday", WorkingHours())
    details = EventDetails("Plan", START, START + timedelta(hours=1), "UTC", **changes)
    event = CalendarEvent.schedule(organizer.id, details, {guest.id: guest.email})
    return event, organizer, guest


def test_users_projection_keeps_profiles(views: SqliteViews) -> None:
    user = User.register("A@Example.org", "A", "Asia/Kolkata", "sunday", WorkingHours())
    user.change_profile({"timezone": "Europe/Paris"})
    project(views, UsersProjection(), *user.collect_events())
    assert views.query("SELECT email, timezone, week_start FROM users") == [
        ("a@example.org", "Europe/Paris", "sunday")]


def invitation_of(event: CalendarEvent, guest: User) -> Invitation:
    return Invitation(event.id, guest.id, event.organizer_id, {}, event.version,
                      listing_of(event))


def test_organizer_entry_comes_from_the_event_and_goes_on_cancel(views: SqliteViews) -> None:
    event, organizer, _ = meeting()
    project(views, CalendarProjection(), *event.collect_events())
    rows = views.query("SELECT user_id, span_start, span_end, rsvp_status FROM cal_entries")
    assert rows == [(str(organizer.id), "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z",
                     "organizer")]
    event.cancel(organizer.id)
    project(views, CalendarProjection(), *event.collect_events())
    assert views.query("SELECT * FROM cal_entries") == []
    state = json.loads(views.query("SELECT state FROM cal_events")[0][0])
    assert (state["status"], state["version"]) == ("cancelled", 2)


def test_guest_entry_comes_from_the_invitation_alone(views: SqliteViews) -> None:
    """Nothing of the event's own rows is needed: the guest's shard has only the
    Invitation."""
    event, organizer, guest = meeting()
    event.collect_events()
    invitation = invitation_of(event, guest)
    invitation.respond("maybe")
    event.update(organizer.id, {"start": START + timedelta(hours=2),
                                "end": START + timedelta(hours=3)}, {}, set())
    event.collect_events()
    invitation.change_summary({}, event.version, listing_of(event))
    project(views, CalendarProjection(), *invitation.collect_events())
    rows = views.query("SELECT user_id, event_id, span_start, rsvp_status FROM cal_entries")
    assert rows == [(str(guest.id), str(event.id), "2026-12-01T11:00:00Z", "maybe")]
    assert views.query("SELECT * FROM cal_events") == []
    invitation.withdraw("uninvited", event.version + 1)
    project(views, CalendarProjection(), *invitation.collect_events())
    assert views.query("SELECT * FROM cal_entries") == []


def test_renewed_invitation_is_back_unanswered(views: SqliteViews) -> None:
    event, _, guest = meeting()
    invitation = invitation_of(event, guest)
    invitation.respond("no")
    invitation.withdraw("uninvited", 2)
    invitation.renew({}, 3, listing_of(event))
    project(views, CalendarProjection(), *invitation.collect_events())
    assert views.query("SELECT user_id, rsvp_status FROM cal_entries") == [
        (str(guest.id), "pending")]


def test_invitation_without_a_listing_gets_an_entry_at_the_next_change(
        views: SqliteViews) -> None:
    """Invitations stored before they carried a listing (README: Upgrading)."""
    event, _, guest = meeting()
    event.collect_events()
    invitation = Invitation(event.id, guest.id, event.organizer_id, {}, 1)
    invitation.respond("yes")
    project(views, CalendarProjection(), *invitation.collect_events())
    assert views.query("SELECT * FROM cal_entries") == []
    invitation.change_summary({}, 2, listing_of(event))
    project(views, CalendarProjection(), *invitation.collect_events())
    assert views.query("SELECT user_id, rsvp_status FROM cal_entries") == [
        (str(guest.id), "pending")]


def test_rsvp_projection_records_answers(views: SqliteViews) -> None:
    event, _, guest = meeting()
    invitation = invitation_of(event, guest)
    invitation.respond("maybe")
    project(views, RsvpProjection(), *event.collect_events(), *invitation.collect_events())
    assert views.query("SELECT user_id, rsvp_status FROM cal_guests") == [
        (str(guest.id), "maybe")]


def test_unbounded_series_are_stored_as_one_open_span(views: SqliteViews) -> None:
    event, _, _ = meeting(rrule="FREQ=DAILY")
    project(views, CalendarProjection(), *event.collect_events())
    spans = {r[0] for r in views.query("SELECT span_end FROM cal_entries")}
    assert spans == {"9999-12-31T00:00:00Z"}


def test_inbox_follows_the_invitation(views: SqliteViews) -> None:
    event, _, guest = meeting()
    invitation = Invitation(event.id, guest.id, event.organizer_id,
                            {"title": "Plan"}, 1)
    invitation.respond("yes")
    invitation.withdraw("uninvited", 2)
    project(views, InboxProjection(), *invitation.collect_events())
    assert views.query("SELECT rsvp_status, active FROM inbox") == [("yes", 0)]
    invitation.renew({"title": "Plan again"}, 3)
    project(views, InboxProjection(), *invitation.collect_events())
    assert views.query("SELECT rsvp_status, active, summary FROM inbox") == [
        ("pending", 1, '{"title":"Plan again"}')]


def busy(views: SqliteViews, user: User) -> dict[date, int]:
    rows = views.query("SELECT day, mask FROM fb_masks WHERE user_id = ?", (str(user.id),))
    found: dict[date, int] = {}
    for day, mask in rows:
        found[date.fromisoformat(day)] = found.get(date.fromisoformat(day), 0) | (
            mask_from_bytes(mask))
    return found


def test_freebusy_masks_overlap_and_a_decline_frees_only_that_event(
        views: SqliteViews) -> None:
    first, organizer, guest = meeting()
    second = CalendarEvent.schedule(organizer.id, EventDetails(
        "Overlap", START + timedelta(minutes=30), START + timedelta(hours=2), "UTC"),
        {guest.id: guest.email})
    project(views, FreeBusyProjection(), *first.collect_events(), *second.collect_events())
    nine_to_eleven = sum(1 << i for i in range(36, 44))
    assert busy(views, guest) == {date(2026, 12, 1): nine_to_eleven}
    declined = Invitation(first.id, guest.id, organizer.id, {}, 1)
    declined.respond("no")
    project(views, FreeBusyProjection(), *declined.collect_events())
    half_past_nine_to_eleven = sum(1 << i for i in range(38, 44))
    assert busy(views, guest) == {date(2026, 12, 1): half_past_nine_to_eleven}
    assert busy(views, organizer) == {date(2026, 12, 1): nine_to_eleven}


def test_freebusy_stores_a_series_first_year_and_keeps_the_rest_as_a_rule(
        views: SqliteViews) -> None:
    weekly, organizer, _ = meeting(rrule="FREQ=WEEKLY")
    holiday, _, _ = meeting(transparency="transparent")
    project(views, FreeBusyProjection(), *weekly.collect_events(), *holiday.collect_events())
    nine_to_ten = sum(1 << i for i in range(36, 40))
    stored = busy(views, organizer)
    assert len(stored) == 53 and set(stored.values()) == {nine_to_ten}
    assert max(stored) == date(2027, 11, 30)
    assert views.query("SELECT DISTINCT span_start, span_end FROM fb_series") == [
        ("2027-12-02T09:00:00Z", "9999-12-31T00:00:00Z")]


@pytest.mark.parametrize("weeks_in", [0, 51, 52, 53, 54, 200])
def test_busy_time_is_the_same_either_side_of_the_materialised_horizon(
        views: SqliteViews, weeks_in: int) -> None:
    weekly, organizer, _ = meeting(rrule="FREQ=WEEKLY;BYDAY=TU,WE")
    project(views, FreeBusyProjection(), *weekly.collect_events())
    start = START + timedelta(weeks=weeks_in) - timedelta(days=1)
    window = Window(start, start + timedelta(days=7))
    found = busy_masks(SqlBusyStore(views), [str(organizer.id)], window)[str(organizer.id)]
    expected = union(*(slot_masks(o.start, o.end)
                       for o in expand(weekly.series(), window.start, window.end)))
    assert {d: m for d, m in found.items() if m} == expected
    assert len(expected) == 2
