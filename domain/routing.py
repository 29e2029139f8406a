"""Routing keys: which shard holds a user's or an event's aggregates.

An event id starts with the organizer's 48-bit routing key, so any process can find
the event's shard from the id alone (no directory lookup, no fan-out query)."""

from __future__ import annotations

from hashlib import blake2b
from uuid import UUID, uuid4

ROUTING_KEY_BYTES = 6


def routing_key(user_id: UUID) -> int:
    return int.from_bytes(_prefix(user_id), "big")


def event_id_for(organizer_id: UUID) -> UUID:
    """A fresh random event id carrying the organizer's routing key."""
    return UUID(bytes=_prefix(organizer_id) + uuid4().bytes[ROUTING_KEY_BYTES:])


def routing_key_of_event(event_id: UUID) -> int:
    return int.from_bytes(event_id.bytes[:ROUTING_KEY_BYTES], "big")


def _prefix(user_id: UUID) -> bytes:
    return blake2b(user_id.bytes, digest_size=ROUTING_KEY_BYTES).digest()
