"""A projection rebuilt by replay equals the live one, after any sequence of commands
(hypothesis), on the real SQLite event store and view database. Redelivering every
event to the fan-out changes nothing."""

from __future__ import annotations

import tempfile
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import handlers
from commands.models import CreateEvent, PatchEvent, PatchInstance, SignUp
from commands.service import NotFoundError
from domain.calendar_event import CalendarEvent
from domain.errors import DomainError, VersionConflictError
from domain.invitation import InvitationWithdrawnError
from infra.bootstrap import Container, all_projections, embedded
from infra.delivery import InProcessDelivery
from infra.settings import Settings

USERS = 4
BASE = datetime(2026, 11, 2, 9, tzinfo=UTC)

create = st.builds(
    lambda organizer, day, hours, guests, weekly: ("create", organizer, day, hours,
                                                   guests, weekly),
    st.integers(0, USERS - 1), st.integers(0, 20), st.integers(1, 3),
    st.sets(st.integers(0, USERS - 1), max_size=3), st.booleans())
edit = st.tuples(st.just("edit"), st.integers(0, 9), st.integers(-3, 3),
                 st.sets(st.integers(0, USERS - 1), max_size=3))
answer = st.tuples(st.just("rsvp"), st.integers(0, 9), st.integers(0, USERS - 1),
                   st.sampled_from(["yes", "no", "maybe"]))
move = st.tuples(st.just("move"), st.integers(0, 9), st.integers(1, 3), st.integers(1, 5))
cancel = st.tuples(st.just("cancel"), st.integers(0, 9))
split = st.tuples(st.just("split"), st.integers(0, 9), st.integers(1, 4), st.integers(-2, 2))
commands_strategy = st.lists(st.one_of(create, create, edit, answer, move, cancel, split),
                             min_size=1, max_size=12)


class World:
    def __init__(self, container: Container) -> None:
        self.c = container
        self.users = [handlers.sign_up(container.stores, SignUp(
            email=f"u{i}@example.org", timezone="Europe/Paris")) for i in range(USERS)]
        self.events: list[UUID] = []
        self.series: list[UUID] = []

    def run(self, command: tuple[Any, ...]) -> None:
        # A rejected command changes nothing; that is part of what is checked.
        with suppress(DomainError, VersionConflictError, NotFoundError, InvitationWithdrawnError):
            getattr(self, "_" + command[0])(*command[1:])
        self.c.delivery.catch_up_once()

    def _event(self, index: int) -> UUID | None:
        return self.events[index % len(self.events)] if self.events else None

    def _series(self, index: int) -> UUID | None:
        return self.series[index % len(self.series)] if self.series else None

    def _create(self, organizer: int, day: int, hours: int, guests: set[int],
                weekly: bool) -> None:
        start = BASE + timedelta(days=day)
        event = handlers.create_event(self.c.stores, self.users[organizer], CreateEvent(
            title=f"e{len(self.events)}", start=start, end=start + timedelta(hours=hours),
            rrule="FREQ=WEEKLY;COUNT=6" if weekly else None,
            guests=[self.users[g].email for g in guests]))
        self.events.append(event.id)
        if weekly:
            self.series.append(event.id)

    def _edit(self, index: int, shift: int, guests: set[int]) -> None:
        event_id = self._event(index)
        if event_id is None:
            return
        event = handlers.load_event(self.c.stores, event_id)
        start = event.details.start + timedelta(hours=shift)
        handlers.patch_event(self.c.stores, event.organizer_id, event_id, PatchEvent(
            start=start, end=start + event.duration,
            guests=[self.users[g].email for g in guests]), event.version)

    def _rsvp(self, index: int, guest: int, status: str) -> None:
        event_id = self._event(index)
        if event_id is not None:
            handlers.rsvp(self.c.stores, self.users[guest].id, event_id, status)

    def _instance(self, index: int, week: int) -> tuple[CalendarEvent, str, datetime] | None:
        """A series, the key of its instance `week` weeks in, and that instance's start."""
        event_id = self._series(index)
        if event_id is None:
            return None
        event = handlers.load_event(self.c.stores, event_id)
        original = event.details.start + timedelta(weeks=week)
        return event, original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"), original

    def _move(self, index: int, week: int, hours: int) -> None:
        found = self._instance(index, week)
        if found is not None:
            event, key, original = found
            start = original + timedelta(hours=hours)
            handlers.override_instance(self.c.stores, event.organizer_id, event.id, key,
                                       PatchInstance(start=start, end=start + event.duration),
                                       event.version)

    def _split(self, index: int, week: int, shift: int) -> None:
        found = self._instance(index, week)
        if found is not None:
            event, key, original = found
            start = original + timedelta(hours=shift)
            following = handlers.split_following(
                self.c.stores, event.organizer_id, event.id, key,
                PatchEvent(title="tail", start=start, end=start + event.duration),
                event.version)
            self.events.append(following.id)
            self.series.append(following.id)

    def _cancel(self, index: int) -> None:
        event_id = self._event(index)
        if event_id is not None:
            organizer = handlers.load_event(self.c.stores, event_id).organizer_id
            handlers.cancel_event(self.c.stores, organizer, event_id, None)


def snapshot(container: Container) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for projection in all_projections():
        for table in projection.tables():
            tables[table] = sorted(container.views.query(f"SELECT * FROM {table}"))
    return tables


def drain(container: Container) -> None:
    while container.delivery.catch_up_once():
        pass


def notification_count(container: Container) -> int:
    return sum(s.recorder.max_notification_id() or 0 for s in container.stores.shards)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands_strategy)
def test_replayed_projections_equal_live_ones(commands: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        container = embedded(Settings(data_dir=Path(data_dir), embedded_shards=2))
        world = World(container)
        for command in commands:
            world.run(command)
        drain(container)
        live = snapshot(container)
        assert live["users"], "the world has users"

        written = notification_count(container)
        with container.views.transaction() as tx:
            tx.execute("DELETE FROM tracking WHERE projection = 'fanout'")
        container.delivery.positions = container.views.positions()
        drain(container)
        assert notification_count(container) == written, "redelivery wrote nothing new"

        replayer = InProcessDelivery(container.stores.shards, container.views,
                                     all_projections(), fanout=None)
        replayer.rebuild(lambda _: None)
        assert snapshot(container) == live
        container.close()
