"""What every projection is: a name, its tables, and a pure mapping from one domain
event to changes of those tables, written through a transaction the runner owns. The
runner commits the changes together with the projection's tracking position, so a
redelivered event changes nothing (exactly-once effects)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Tx(Protocol):
    """A transaction on the view database. SQL uses `?` placeholders and the portable
    subset shared by SQLite and PostgreSQL (adapters translate placeholders)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class Projection(Protocol):
    name: str
    # Topic prefixes of the domain events `process` reads: runners need not decode
    # others (they still move the projection's position past them).
    topics: tuple[str, ...]

    def schema(self) -> list[str]:
        """CREATE TABLE / CREATE INDEX statements (idempotent)."""
        ...

    def tables(self) -> list[str]:
        """The tables a rebuild empties."""
        ...

    def process(self, event: Any, tx: Tx) -> None:
        """Apply one domain event; events the projection ignores are a no-op."""
        ...
