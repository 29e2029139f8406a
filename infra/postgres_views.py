"""PostgreSQL view stores for the distributed deployment: the same projection classes
as the embedded default (projections/), behind a Tx adapter that speaks psycopg.

Where rows live: one views schema in every physical shard's database. A change goes to
the database of the shard its message came from, so a user's rows (profile, calendar
entries, inbox) are on the user's shard: a guest's entries come from the guest's
Invitation, which lives there. Two projections key rows by event instead: `rsvps` (the
guests' answers as the organizer's event shows them) and `freebusy` when it is kept in
PostgreSQL; the Invitation messages they use are routed to the event's (organizer's)
shard by the event id they carry. Each projection's read-modify-writes stay inside one
database. Reads go to the shard holding the rows (`ShardedViews.of_user`, `of_event`).

Exactly once: a message's view changes and its tracking row - the highest notification
id applied per (projection, source shard, Kafka partition) - commit in one SERIALIZABLE
transaction. The relay publishes each shard's log in order and a partition keeps that
order, so an id at or below the tracked one was applied already."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.utils import get_topic
from psycopg import sql
from psycopg_pool import ConnectionPool

from commands.shards import ShardMap
from domain.invitation import Invitation
from infra.kafka_consumer import Delivery
from projections.base import Projection

RETRIES = 20
TRACKING_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tracking (projection TEXT NOT NULL, shard INTEGER NOT NULL,"
    " partition INTEGER NOT NULL, position BIGINT NOT NULL,"
    " PRIMARY KEY (projection, shard, partition))")
# Projections that keep rows by event, RSVPs included (see the module doc).
EVENT_KEYED = ("rsvps", "freebusy")
log = logging.getLogger(__name__)
T = TypeVar("T")
Key = tuple[int, int]


def to_pg(statement: str) -> str:
    """Portable `?` placeholders to psycopg's `%s` (a literal `%` doubled first)."""
    return statement.replace("%", "%%").replace("?", "%s")


def to_pg_ddl(statement: str) -> str:
    """BLOB is the one SQLite type name in the projections' DDL that PostgreSQL lacks."""
    return statement.replace(" BLOB", " BYTEA")


class PostgresTx:
    """projections.base.Tx over one psycopg connection inside a transaction."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(to_pg(statement), params)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.cursor().executemany(to_pg(statement), rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(to_pg(statement), params).fetchall()


def create_schema(dsn: str, schema: str) -> None:
    """CREATE SCHEMA IF NOT EXISTS races with itself; workers starting together queue."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('calendar schemas'))")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


class PostgresViews:
    """The views schema in one physical shard's database."""

    def __init__(self, index: int, dsn: str, schema: str, pool_size: int) -> None:
        self.index = index
        self.schema = schema
        create_schema(dsn, schema)
        self.pool = ConnectionPool(dsn, min_size=1, max_size=pool_size, open=True,
                                   kwargs={"options": f"-c search_path={schema}"},
                                   configure=_configure)

    def create(self, projections: Sequence[Projection]) -> None:
        self.create_tables([TRACKING_SCHEMA] + [s for p in projections for s in p.schema()])

    def create_tables(self, statements: Sequence[str]) -> None:
        statements = [to_pg_ddl(s) for s in statements]
        with self.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('calendar views schema'))")
            for statement in statements:
                tx.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[PostgresTx]:
        with self.pool.connection() as conn, conn.transaction():
            yield PostgresTx(conn)

    def run(self, work: Callable[[PostgresTx], T]) -> T:
        """Run `work` in one SERIALIZABLE transaction, again if it lost a race."""
        for attempt in range(RETRIES):
            try:
                with self.transaction() as tx:
                    return work(tx)
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                log.debug("views %d: serialization failure, attempt %d", self.index, attempt)
        raise RuntimeError(f"views {self.index}: gave up after {RETRIES} serialization failures")

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn:
            return conn.execute(to_pg(statement), params).fetchall()

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement in its own (SERIALIZABLE) transaction, again if it lost a race;
        the rows it returns, if any."""
        for attempt in range(RETRIES):
            try:
                with self.pool.connection() as conn:
                    cursor = conn.execute(to_pg(statement), params)
                    return cursor.fetchall() if cursor.description else []
            except psycopg.errors.SerializationFailure:
                log.debug("views %d: serialization failure, attempt %d", self.index, attempt)
        raise RuntimeError(f"views {self.index}: gave up after {RETRIES} serialization failures")

    def of_user(self, user_id: str) -> PostgresViews:
        return self

    def of_event(self, event_id: str) -> PostgresViews:
        return self

    def positions(self) -> dict[tuple[str, int, int], int]:
        rows = self.query("SELECT projection, shard, partition, position FROM tracking")
        return {(name, shard, partition): position for name, shard, partition, position in rows}

    def close(self) -> None:
        self.pool.close()


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.autocommit = True  # reads need no transaction; writes open one explicitly
    conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE


class ShardedViews:
    """Every physical shard's views: where each change goes, and reads that gather."""

    def __init__(self, views: Sequence[PostgresViews], shard_map: ShardMap) -> None:
        self.views = list(views)
        self.shard_map = shard_map

    def home(self, projection: str, delivery: Delivery) -> int:
        """Invitation events that name their event (an RSVP, a renewal) change that
        event's rows, so they go to the event's shard; everything else stays home."""
        event_id = getattr(delivery.event, "event_id", None)
        if projection in EVENT_KEYED and event_id is not None and isinstance(
                delivery.event, Invitation.Event):
            return self.shard_map.of_event(event_id)
        return delivery.shard

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every shard's rows, concatenated (for lookups by a set of ids)."""
        return [row for views in self.views for row in views.query(statement, params)]

    def of_user(self, user_id: str) -> PostgresViews:
        try:
            return self.views[self.shard_map.of_user(UUID(user_id))]
        except ValueError:
            return self.views[0]  # not an id: no shard has rows for it

    def of_event(self, event_id: str) -> PostgresViews:
        try:
            return self.views[self.shard_map.of_event(UUID(event_id))]
        except ValueError:
            return self.views[0]

    def positions(self) -> dict[tuple[str, int, int], int]:
        merged: dict[tuple[str, int, int], int] = {}
        for views in self.views:
            for key, position in views.positions().items():
                merged[key] = max(position, merged.get(key, 0))
        return merged

    def close(self) -> None:
        for views in self.views:
            views.close()


class PostgresProjector:
    """A projection fed by Kafka deliveries (or by a replay), on ShardedViews.

    A batch is one transaction per views database, sent in pipeline mode: statements
    whose results nobody reads (the projections' inserts and updates, the tracking
    update) go out without waiting for the server, so only queries cost a round trip;
    and a run of executes of one statement goes out as one executemany.

    `isolation`: SERIALIZABLE unless nothing else writes this projection's rows and
    tracking while it runs (a replay: one process per projection, projectors stopped),
    where REPEATABLE READ gives the same result. Projections share the `tracking`
    table, and PostgreSQL's SERIALIZABLE conflict detection locks its whole page once a
    transaction has read a few of its rows, so projections replayed side by side would
    otherwise keep failing each other's (large) transactions."""

    class _MergingTx:
        """The projection's Tx for one batch: a run of executes of the same statement
        (e.g. one INSERT per invitation) goes to the server as one executemany, in the
        same order, at a third of the client's cost per row; flushed before any other
        statement or query, and at the end of the batch."""

        def __init__(self, tx: PostgresTx) -> None:
            self.tx = tx
            self.statement = ""
            self.rows: list[Sequence[Any]] = []

        def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
            if statement != self.statement:
                self.flush()
                self.statement = statement
            self.rows.append(params)

        def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
            self.flush()
            self.tx.executemany(statement, rows)

        def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            self.flush()
            return self.tx.query(statement, params)

        def flush(self) -> None:
            if len(self.rows) == 1:
                self.tx.execute(self.statement, self.rows[0])
            elif self.rows:
                self.tx.executemany(self.statement, self.rows)
            self.statement, self.rows = "", []

    def __init__(self, projection: Projection, views: ShardedViews,
                 isolation: str = "SERIALIZABLE") -> None:
        if isolation not in ("SERIALIZABLE", "REPEATABLE READ"):
            raise ValueError(f"isolation {isolation!r}")
        self.projection = projection
        self.views = views
        self.name = projection.name
        self.isolation = isolation
        self._wanted: dict[type, bool] = {}  # by event class

    def wants(self, topic: str) -> bool:
        return topic.startswith(self.projection.topics)

    def handle(self, deliveries: Sequence[Delivery]) -> None:
        by_home: dict[int, list[Delivery]] = defaultdict(list)
        for delivery in map(self._read_or_skipped, deliveries):
            by_home[self.views.home(self.name, delivery)].append(delivery)
        for home, batch in sorted(by_home.items()):
            self.views.views[home].run(partial(self._apply, batch=batch))

    def _read_or_skipped(self, delivery: Delivery) -> Delivery:
        """An event the projection does not read travels as None, decoded or not (a
        replay decodes everything), so it is routed and tracked the same either way."""
        event = delivery.event
        if event is None:
            return delivery
        wanted = self._wanted.get(type(event))
        if wanted is None:
            wanted = self._wanted[type(event)] = self.wants(get_topic(type(event)))
        return delivery if wanted else replace(delivery, event=None)

    def _apply(self, tx: PostgresTx, *, batch: list[Delivery]) -> None:
        with tx.conn.pipeline():
            if self.isolation != "SERIALIZABLE":
                tx.execute(f"SET TRANSACTION ISOLATION LEVEL {self.isolation}")
            positions = self._lock_positions(tx, sorted({(d.shard, d.partition)
                                                         for d in batch}))
            started = dict(positions)
            merging = self._MergingTx(tx)
            for d in batch:
                if d.notification_id > positions[(d.shard, d.partition)]:
                    if d.event is not None:
                        self.projection.process(d.event, merging)
                    positions[(d.shard, d.partition)] = d.notification_id
            merging.flush()
            tx.executemany("UPDATE tracking SET position = ? WHERE projection = ?"
                           " AND shard = ? AND partition = ?",
                           [(p, self.name, *key) for key, p in positions.items()
                            if p != started[key]])

    def _lock_positions(self, tx: PostgresTx, keys: list[Key]) -> dict[Key, int]:
        """The tracked positions, locked for this transaction (in key order, no deadlock),
        in one round trip: the no-op update of an existing row takes its lock."""
        marks = ", ".join(["(?, ?, ?, 0)"] * len(keys))
        rows = tx.query("INSERT INTO tracking (projection, shard, partition, position)"
                        f" VALUES {marks} ON CONFLICT (projection, shard, partition)"
                        " DO UPDATE SET position = tracking.position"
                        " RETURNING shard, partition, position",
                        [v for key in keys for v in (self.name, *key)])
        return {(shard, partition): int(position) for shard, partition, position in rows}

    def reset(self) -> None:
        """Empty the projection's tables and tracking everywhere (before a replay)."""
        for views in self.views.views:
            with views.transaction() as tx:
                for table in self.projection.tables():
                    tx.execute(f"DELETE FROM {table}")
                tx.execute("DELETE FROM tracking WHERE projection = ?", (self.name,))
