"""The fan-out process manager: keeps each guest's Invitation (on the guest's shard) in
step with the event. Idempotent without a distributed transaction: invitation ids are
deterministic and every change is guarded by the event version it reflects, so a
redelivered domain event changes nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from commands.application import CalendarShard
from commands.event_states import listing_of
from commands.service import CalendarStores, NotFoundError
from domain.calendar_event import CalendarEvent
from domain.invitation import Invitation

RETRIES = 5


class InvitationFanout:
    name = "fanout"

    def __init__(self, stores: CalendarStores) -> None:
        self.stores = stores

    def handles(self, event: DomainEventProtocol[Any]) -> bool:
        return isinstance(event, CalendarEvent.Event)

    def process(self, domain_event: DomainEventProtocol[Any]) -> None:
        if not self.handles(domain_event):
            return
        version = domain_event.originator_version
        event = self._event_at(domain_event)
        by_shard: dict[int, list[UUID]] = {}
        for guest in _touched_guests(domain_event, event):
            guest_id = UUID(guest)
            by_shard.setdefault(self.stores.shard_map.of_user(guest_id), []).append(guest_id)
        for index, guests in by_shard.items():
            self._sync_shard(self.stores.shards[index], event, guests, version)

    def _event_at(self, domain_event: DomainEventProtocol[Any]) -> CalendarEvent:
        """The event as of this domain event. A new event's first domain event holds all
        of it, so no load is needed for the most common case, a creation."""
        if isinstance(domain_event, CalendarEvent.Scheduled):  # type: ignore[attr-defined]
            created = domain_event.mutate(None)
        else:
            shard = self.stores.event_shard(domain_event.originator_id)
            created = shard.repository.get(domain_event.originator_id,
                                           version=domain_event.originator_version)
        assert isinstance(created, CalendarEvent)
        return created

    def _sync_shard(self, shard: CalendarShard, event: CalendarEvent, guests: list[UUID],
                    version: int) -> None:
        """All of one shard's invitations in one commit; on a conflict (a concurrent RSVP,
        a duplicate delivery) fall back to one guest at a time. A new event's guests have
        no invitation yet, so none is looked up (a redelivery conflicts and falls back)."""
        if version == 1:
            changed = [self._new_invitation(event, g, version) for g in guests]
        else:
            changed = [i for g in guests if (i := self._changed(shard, event, g, version))]
        if not changed:
            return
        try:
            shard.save(*changed)
        except IntegrityError:
            for guest_id in guests:
                self._sync(shard, event, guest_id, version)

    def _sync(self, shard: CalendarShard, event: CalendarEvent, guest_id: UUID,
              version: int) -> None:
        for _ in range(RETRIES):
            invitation = self._changed(shard, event, guest_id, version)
            if invitation is None:
                return
            try:
                shard.save(invitation)
                return
            except IntegrityError:
                continue  # a concurrent RSVP or a duplicate delivery; look again

    def _changed(self, shard: CalendarShard, event: CalendarEvent, guest_id: UUID,
                 version: int) -> Invitation | None:
        """The guest's invitation brought up to `version`, or None if nothing changes."""
        invited = str(guest_id) in event.guests and not event.cancelled
        try:
            invitation = self.stores.load(shard, Invitation.create_id(event.id, guest_id),
                                          Invitation)
        except NotFoundError:
            return self._new_invitation(event, guest_id, version) if invited else None
        if not invitation.is_behind(version):
            return None
        _bring_up_to_date(invitation, event, invited, version)
        return invitation


    @staticmethod
    def _new_invitation(event: CalendarEvent, guest_id: UUID, version: int) -> Invitation:
        return Invitation(event.id, guest_id, event.organizer_id, summary_of(event), version,
                          listing_of(event))


def _bring_up_to_date(invitation: Invitation, event: CalendarEvent, invited: bool,
                      version: int) -> None:
    if not invited:
        reason = "cancelled" if event.cancelled else "uninvited"
        invitation.withdraw(reason, version)
    elif not invitation.active:
        invitation.renew(summary_of(event), version, listing_of(event))
    else:
        invitation.change_summary(summary_of(event), version, listing_of(event))


def _touched_guests(domain_event: DomainEventProtocol[Any], event: CalendarEvent) -> list[str]:
    """Current guests, plus anyone this very change uninvited."""
    removed = getattr(domain_event, "uninvited", [])
    return [*event.guests, *removed]


def summary_of(event: CalendarEvent) -> dict[str, Any]:
    """What a guest's inbox shows of the event."""
    d = event.details
    return {"title": d.title, "start": d.start.isoformat(), "end": d.end.isoformat(),
            "all_day": d.all_day, "timezone": d.timezone, "recurring": d.rrule is not None}
