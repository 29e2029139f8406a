"""The read side's port: queries over projection tables, plus read-your-own-writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from uuid import UUID

from projections.event_state import EventState


class ReadStore(Protocol):
    """Projection tables. Sharded deployments keep a user's rows on the user's shard and
    an event's rows on its organizer's; `of_user` and `of_event` give the store holding
    them, and `query` on the whole store gathers every shard's rows."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def of_user(self, user_id: str) -> ReadStore: ...

    def of_event(self, event_id: str) -> ReadStore: ...


class OwnWrites(Protocol):
    def wait(self, user_id: UUID, projections: Sequence[str]) -> bool:
        """Wait until the named projections reflect the user's latest write."""
        ...

    def unapplied(self, user_id: UUID) -> list[EventState]:
        """After a wait that timed out: the events the user wrote that the calendar
        projection has not applied yet, as they stand in the event store (the read
        overlays them on the views). Empty where there is no such fallback."""
        ...

    def profile(self, user_id: UUID) -> dict[str, Any] | None:
        """After a wait that timed out: the user's own profile as the event store has it,
        for a user whose sign-up the users projection has not applied yet (None where
        there is no such fallback)."""
        ...


class HistoryReader(Protocol):
    def history(self, user_id: UUID, event_id: UUID) -> list[dict[str, Any]] | None:
        """The event's audit trail, or None when the caller cannot see the event."""
        ...


class BusyStore(Protocol):
    """Where free/busy is read from: the projection's tables (SQL) or another store."""

    def day_masks(self, user_ids: list[str], first: str, last: str
                  ) -> Iterable[tuple[str, str, bytes]]:
        """(user, ISO day, 12-byte mask) held by single events, days first..last."""
        ...

    def recurring(self, user_ids: list[str], span_start: str, span_end: str
                  ) -> Iterable[tuple[str, str, str]]:
        """(user, event state JSON, start of the rule's span) of the series they hold
        whose rule span meets the window; instances before that start are in the masks."""
        ...
