"""Real PostgreSQL, Redis and Kafka for the tests that need them.

The settings come from the environment when ``scripts/test.sh`` (or a developer) already
started the services; otherwise this session starts its own under pytest's temporary
directory. A service that cannot start fails the session: tests that need services must
never be skipped silently, or a broken environment would look like a green build.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from infra.local_services import SETTING_KEYS, down, up


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``CALENDAR_SHARDS``, ``CALENDAR_REDIS_URL`` and ``CALENDAR_KAFKA_BOOTSTRAP``."""
    if all(os.environ.get(key) for key in SETTING_KEYS):
        yield {key: os.environ[key] for key in SETTING_KEYS}
        return
    base_dir = tmp_path_factory.getbasetemp() / "services"
    try:
        yield up(base_dir)  # raises ServiceStartError: the tests error, never skip
    finally:
        down(base_dir)
