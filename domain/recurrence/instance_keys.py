"""Instance keys: an instance's original start as a UTC RECURRENCE-ID (RFC 5545 §3.3.5)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from domain.recurrence.wall_time import _utc

_INSTANCE_KEY: Final = re.compile(r"\d{8}T\d{6}Z")
_INSTANCE_KEY_FORMAT: Final = "%Y%m%dT%H%M%SZ"


def instance_key(original_start_utc: datetime) -> str:
    """The RECURRENCE-ID of an instance as a UTC DATE-TIME (RFC 5545 §3.3.5 form #2)."""
    return _utc(original_start_utc, "original_start_utc").strftime(_INSTANCE_KEY_FORMAT)


def parse_instance_key(key: str) -> datetime:
    """Inverse of ``instance_key``; raises ValueError on anything else."""
    if not _INSTANCE_KEY.fullmatch(key):
        raise ValueError(f"instance key {key!r} is not of the form 20261124T140000Z")
    return datetime.strptime(key, _INSTANCE_KEY_FORMAT).replace(tzinfo=UTC)
