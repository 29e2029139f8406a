"""Domain errors: a command broke a business rule. Mapped to HTTP in one place (infra.problems)."""


class DomainError(Exception):
    """A command broke a business rule; maps to a 4xx response."""


class InvalidRecurrenceError(DomainError):
    """An RRULE, EXDATE or RDATE is malformed or contradictory (RFC 5545 section 3.3.10)."""


class TooManyInstancesError(DomainError):
    """A query window holds more instances of one event than the per-query cap."""


class InvalidEventError(DomainError):
    """Event fields that cannot go together (end before start, too long, ...)."""


class EventCancelledError(DomainError):
    """The event was cancelled; it can no longer be changed."""


class NotOrganizerError(DomainError):
    """Only the organizer may change an event (a guest editing it gets 403)."""


class NoSuchInstanceError(DomainError):
    """The instance id does not name an instance of this series."""


class SplitAtFirstInstanceError(DomainError):
    """"This and following" from the first instance is an edit of the whole series."""


class VersionConflictError(Exception):
    """The caller's expected version is not the aggregate's current version (OCC, 409)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"current version is {current_version}")
        self.current_version = current_version
