"""How a 96-slot day mask is stored: 12 little-endian bytes."""

from __future__ import annotations

MASK_BYTES = 12


def mask_to_bytes(mask: int) -> bytes:
    return mask.to_bytes(MASK_BYTES, "little")


def mask_from_bytes(blob: bytes) -> int:
    return int.from_bytes(blob, "little")
