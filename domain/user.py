"""The User aggregate. Its id derives from the e-mail address, so a duplicate sign-up
collides on the event store's primary key (409) and guests named by e-mail resolve to
an id and a shard without any global index."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.values import WorkingHours, zone


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(Aggregate):
    TOPIC = "calendar:User"

    class Created(Aggregate.Created):
        """Unused; the library wants every event class of the aggregate named."""

        TOPIC = "calendar:User.Created"

    @staticmethod
    def create_id(email: str, **_: Any) -> UUID:
        return uuid5(NAMESPACE_URL, f"mailto:{normalise_email(email)}")

    @classmethod
    def register(
        cls, email: str, name: str, timezone: str, week_start: str, working_hours: WorkingHours
    ) -> User:
        zone(timezone)
        return cls(normalise_email(email), name, timezone, week_start, working_hours.as_record())

    @event("Registered", topic="calendar:User.Registered")
    def __init__(
        self, email: str, name: str, timezone: str, week_start: str,
        working_hours: dict[str, Any],
    ) -> None:
        self.email = email
        self.name = name
        self.timezone = timezone
        self.week_start = week_start
        self.working_hours = working_hours

    def change_profile(self, changes: dict[str, Any]) -> None:
        if "timezone" in changes:
            zone(changes["timezone"])
        self._profile_changed(changes)

    @event("ProfileChanged", topic="calendar:User.ProfileChanged")
    def _profile_changed(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
