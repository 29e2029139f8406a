"""Read-your-own-writes in the distributed deployment, shared by every API process.

After a write, the author's highest notification id per (shard, Kafka partition) is
stored in the views database of the author's shard (`own_writes`); partitions are
consumed independently, so "passed notification n" only holds within one partition, and
the partition is found from the written aggregate (kafka_relay.partition_of). The
calendar events the author wrote are stored too (`own_events`), for the fallback: a read
that waited in vain loads them from the event store and overlays them on the views.
A user's `own_events` rows go when one of their reads finds every write applied.

Because the rows live in PostgreSQL, not in an API process, any process behind the load
balancer can serve the author's next read, and a restart forgets nothing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from commands.event_states import state_of
from commands.service import CalendarStores, NotFoundError, Position
from domain.calendar_event import CalendarEvent
from domain.user import User
from infra.kafka_relay import partition_of
from infra.postgres_views import PostgresViews, ShardedViews
from projections.event_state import EventState

CALENDAR_EVENT_TOPIC = get_topic(CalendarEvent) + "."
Tracked = dict[tuple[str, int, int], int]
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS own_writes (user_id TEXT NOT NULL, shard INTEGER NOT NULL,"
    " partition INTEGER NOT NULL, position BIGINT NOT NULL,"
    " PRIMARY KEY (user_id, shard, partition))",
    "CREATE TABLE IF NOT EXISTS own_events (user_id TEXT NOT NULL, event_id TEXT NOT NULL,"
    " shard INTEGER NOT NULL, partition INTEGER NOT NULL, position BIGINT NOT NULL,"
    " PRIMARY KEY (user_id, event_id))",
]


class Tracker(Protocol):
    def positions(self) -> Tracked: ...


class SavedNotifications(Protocol):
    def saved(self, notification_id: int) -> list[Notification]: ...


class SharedWritePositions:
    """commands.service.WritePositions over the `own_writes` and `own_events` tables."""

    def __init__(self, shards: Sequence[SavedNotifications], views: ShardedViews,
                 partitions: int) -> None:
        self.shards = shards
        self.views = views
        self.partitions = partitions
        for shard_views in views.views:
            shard_views.create_tables(SCHEMA)

    def record(self, user_id: UUID, position: Position) -> None:
        """One statement: the user's position per partition, and their calendar events."""
        writes: dict[tuple[int, int], int] = {}
        events: dict[str, tuple[int, int, int]] = {}
        for n in self.shards[position.shard].saved(position.notification_id):
            key = (position.shard, partition_of(UUID(str(n.originator_id)), self.partitions))
            writes[key] = max(writes.get(key, 0), n.id)
            if n.topic.startswith(CALENDAR_EVENT_TOPIC):
                events[str(n.originator_id)] = (*key, n.id)
        if writes:
            self._home(user_id).execute(*_record_statement(str(user_id), writes, events))

    def latest(self, user_id: UUID) -> list[Position]:
        return [Position(s, n) for s, _, n in self.pending(user_id)[0]]

    def pending(self, user_id: UUID) -> tuple[list[tuple[int, int, int]], bool]:
        """The user's (shard, partition, position) writes, and whether they have any
        calendar events on record for the fallback."""
        rows = self._home(user_id).query(
            "SELECT shard, partition, position, EXISTS (SELECT 1 FROM own_events"
            " WHERE user_id = ?) FROM own_writes WHERE user_id = ?",
            (str(user_id), str(user_id)))
        return [(s, p, n) for s, p, n, _ in rows], any(row[3] for row in rows)

    def forget_events(self, user_id: UUID, applied: list[tuple[int, int, int]]) -> None:
        """The user's events at or below these applied (shard, partition, position)s:
        the fallback has nothing to load for them. (A write racing this read is newer
        than what the read saw, so it stays.)"""
        if not applied:
            return
        covered = " OR ".join(["(shard = ? AND partition = ? AND position <= ?)"] * len(applied))
        self._home(user_id).execute(
            f"DELETE FROM own_events WHERE user_id = ? AND ({covered})",
            (str(user_id), *(v for write in applied for v in write)))

    def unapplied_events(self, user_id: UUID, tracked: Tracked,
                         projection: str = "calendar") -> list[tuple[int, UUID]]:
        """(shard, event id) of the user's events `projection` has not applied per
        `tracked`."""
        rows = self._home(user_id).query(
            "SELECT event_id, shard, partition, position FROM own_events WHERE user_id = ?",
            (str(user_id),))
        return [(s, UUID(event_id)) for event_id, s, p, n in rows
                if tracked.get((projection, s, p), 0) < n]

    def _home(self, user_id: UUID) -> PostgresViews:
        return self.views.of_user(str(user_id))


def _record_statement(user_id: str, writes: dict[tuple[int, int], int],
                      events: dict[str, tuple[int, int, int]]) -> tuple[str, list[object]]:
    marks = ", ".join(["(?, ?, ?, ?)"] * len(writes))
    params: list[object] = [v for (s, p), n in writes.items() for v in (user_id, s, p, n)]
    upsert = (
        f"INSERT INTO own_writes (user_id, shard, partition, position) VALUES {marks}"
        " ON CONFLICT (user_id, shard, partition) DO UPDATE"
        " SET position = GREATEST(own_writes.position, excluded.position)")
    if not events:
        return upsert, params
    event_marks = ", ".join(["(?, ?, ?, ?, ?)"] * len(events))
    params += [v for e, (s, p, n) in events.items() for v in (user_id, e, s, p, n)]
    statement = (f"WITH written AS ({upsert} RETURNING 1)"
                 " INSERT INTO own_events (user_id, event_id, shard, partition, position)"
                 f" VALUES {event_marks} ON CONFLICT (user_id, event_id) DO UPDATE"
                 " SET shard = excluded.shard, partition = excluded.partition,"
                 " position = excluded.position"
                 " WHERE own_events.position < excluded.position")
    return statement, params


class WaitForProjections:
    """A read waits (polling the tracking positions) until the projections it uses have
    applied the reader's latest write in every partition it went to. When they do not
    within the timeout, `unapplied` loads the reader's newer events from the event store
    for the read to overlay on the views."""

    def __init__(self, positions: SharedWritePositions, trackers: Sequence[Tracker],
                 timeout: float, stores: CalendarStores | None = None) -> None:
        self.positions = positions
        self.trackers = trackers
        self.timeout = timeout
        self.stores = stores

    def wait(self, user_id: UUID, projections: Sequence[str]) -> bool:
        written, has_events = self.positions.pending(user_id)
        pending = written
        deadline, pause = time.monotonic() + self.timeout, 0.002
        while pending:
            tracked = self.tracked()
            pending = [(s, p, n) for s, p, n in pending
                       if any(tracked.get((name, s, p), 0) < n for name in projections)]
            remaining = deadline - time.monotonic()
            if pending and remaining <= 0:
                return False
            if pending:
                time.sleep(min(pause, max(remaining, 0)))
                pause = min(pause * 2, 0.05)
        if has_events and "calendar" in projections:
            self.positions.forget_events(user_id, written)
        return True

    def unapplied(self, user_id: UUID) -> list[EventState]:
        if self.stores is None:
            return []
        states: list[EventState] = []
        for shard, event_id in self.positions.unapplied_events(user_id, self.tracked()):
            try:
                event = self.stores.load(self.stores.shards[shard], event_id, CalendarEvent)
            except NotFoundError:
                continue
            states.append(state_of(event))
        return states

    def profile(self, user_id: UUID) -> dict[str, Any] | None:
        if self.stores is None:
            return None
        try:
            user = self.stores.load(self.stores.user_shard(user_id), user_id, User)
        except NotFoundError:
            return None
        return {"user_id": str(user_id), "email": user.email, "name": user.name,
                "timezone": user.timezone, "week_start": user.week_start,
                "working_hours": user.working_hours}

    def tracked(self) -> Tracked:
        merged: Tracked = {}
        for tracker in self.trackers:
            merged.update(tracker.positions())
        return merged
