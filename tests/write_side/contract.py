"""The write side's behaviour, written once and run against every event store: the
in-memory and SQLite stores here, PostgreSQL in tests/services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from commands import handlers
from commands.application import CalendarShard
from commands.fanout import InvitationFanout
from commands.models import CreateEvent, PatchEvent, SignUp
from commands.service import CalendarStores, Position
from commands.shards import ShardMap
from domain.calendar_event import CalendarEvent
from domain.errors import NotOrganizerError, VersionConflictError
from domain.invitation import Invitation
from domain.user import User

START = datetime(2026, 12, 1, 9, tzinfo=UTC)


class RecordedPositions:
    def __init__(self) -> None:
        self.seen: list[tuple[UUID, Position]] = []

    def record(self, user_id: UUID, position: Position) -> None:
        self.seen.append((user_id, position))

    def latest(self, user_id: UUID) -> list[Position]:
        return [p for u, p in self.seen if u == user_id]


def stores_over(shards: list[CalendarShard]) -> CalendarStores:
    return CalendarStores(shards, ShardMap(len(shards)), RecordedPositions(), lambda: None)


def fan_out_everything(stores: CalendarStores) -> None:
    fanout = InvitationFanout(stores)
    for shard in stores.shards:
        for notification in shard.recorder.select_notifications(None, 10_000):
            fanout.process(shard.mapper.to_domain_event(notification))


class WriteSideContract:
    @pytest.fixture
    def stores(self) -> CalendarStores:
        raise NotImplementedError

    def sign_up(self, stores: CalendarStores, zone: str = "Europe/Paris") -> User:
        return handlers.sign_up(stores, SignUp(email=f"{uuid4()}@example.org", timezone=zone))

    def users_on_two_shards(self, stores: CalendarStores) -> tuple[User, User]:
        first = self.sign_up(stores)
        while True:
            other = self.sign_up(stores)
            if len(stores.shards) == 1 or (stores.shard_map.of_user(other.id)
                                           != stores.shard_map.of_user(first.id)):
                return first, other

    def create(self, stores: CalendarStores, organizer: User, *guests: User) -> CalendarEvent:
        return handlers.create_event(stores, organizer, CreateEvent(
            title="Plan", start=START, end=START + timedelta(hours=1),
            guests=[g.email for g in guests]))

    def test_a_second_sign_up_with_the_same_email_is_refused(self, stores: CalendarStores
                                                               ) -> None:
        user = self.sign_up(stores)
        with pytest.raises(handlers.EmailTakenError):
            handlers.sign_up(stores, SignUp(email=user.email.upper(), timezone="UTC"))

    def test_a_stale_version_conflicts_and_names_the_current_one(
            self, stores: CalendarStores) -> None:
        organizer = self.sign_up(stores)
        event = self.create(stores, organizer)
        handlers.patch_event(stores, organizer.id, event.id, PatchEvent(title="v2"), 1)
        with pytest.raises(VersionConflictError) as raised:
            handlers.patch_event(stores, organizer.id, event.id, PatchEvent(title="v3"), 1)
        assert raised.value.current_version == 2

    def test_two_writers_of_one_version_cannot_both_save(self, stores: CalendarStores) -> None:
        organizer = self.sign_up(stores)
        event_id = self.create(stores, organizer).id
        shard = stores.event_shard(event_id)
        first, second = shard.repository.get(event_id), shard.repository.get(event_id)
        first.update(organizer.id, {"title": "first"}, {}, set())
        second.update(organizer.id, {"title": "second"}, {}, set())
        shard.save(first)
        with pytest.raises(IntegrityError):
            shard.save(second)
        assert handlers.load_event(stores, event_id).details.title == "first"

    def test_guests_may_not_edit(self, stores: CalendarStores) -> None:
        organizer, guest = self.users_on_two_shards(stores)
        event = self.create(stores, organizer, guest)
        with pytest.raises(NotOrganizerError):
            handlers.patch_event(stores, guest.id, event.id, PatchEvent(title="mine"), 1)

    def test_unknown_guests_are_named(self, stores: CalendarStores) -> None:
        organizer = self.sign_up(stores)
        with pytest.raises(handlers.UnknownGuestsError) as raised:
            handlers.create_event(stores, organizer, CreateEvent(
                title="x", start=START, end=START + timedelta(hours=1),
                guests=["nobody@example.org"]))
        assert raised.value.unknown == ["nobody@example.org"]

    def test_invitations_live_on_the_guest_shard_and_rsvps_never_contend(
            self, stores: CalendarStores) -> None:
        organizer, guest = self.users_on_two_shards(stores)
        event = self.create(stores, organizer, guest)
        fan_out_everything(stores)
        handlers.patch_event(stores, organizer.id, event.id, PatchEvent(title="moved"), 1)
        answered = handlers.rsvp(stores, guest.id, event.id, "yes")
        assert answered.rsvp_status == "yes"
        invitation_id = Invitation.create_id(event.id, guest.id)
        assert stores.exists(stores.user_shard(guest.id), invitation_id)
        assert handlers.load_event(stores, event.id).version == 2

    def test_fan_out_twice_changes_nothing(self, stores: CalendarStores) -> None:
        organizer, guest = self.users_on_two_shards(stores)
        event = self.create(stores, organizer, guest)
        handlers.patch_event(stores, organizer.id, event.id, PatchEvent(guests=[]), 1)
        fan_out_everything(stores)
        invitation_id = Invitation.create_id(event.id, guest.id)
        shard = stores.user_shard(guest.id)
        version = shard.repository.get(invitation_id).version
        fan_out_everything(stores)
        invitation = shard.repository.get(invitation_id)
        assert (invitation.version, invitation.active) == (version, False)
