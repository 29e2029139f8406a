"""The settings the services hand to the application, as ``KEY=value`` lines.

The same lines go to stdout and to ``services.env`` in the base directory, from which a
later ``up`` reads back the ports to check the services still answer.
"""

from __future__ import annotations

from infra.local_services.ports import LOOPBACK
from infra.local_services.postgres_server import DB_PASSWORD, DB_USER, SHARD_DATABASES

SETTING_KEYS = ("CALENDAR_SHARDS", "CALENDAR_REDIS_URL", "CALENDAR_KAFKA_BOOTSTRAP")


def format_settings(settings: dict[str, str]) -> str:
    """Render settings as ``KEY=value`` lines, the format of services.env and of stdout."""
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def parse_settings(text: str) -> dict[str, str]:
    """Inverse of :func:`format_settings`; ignores blank lines and comments."""
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def _settings(pg_port: int, redis_port: int, kafka_port: int) -> dict[str, str]:
    """The environment the application reads (see infra settings)."""
    shards = ",".join(
        f"postgresql://{DB_USER}:{DB_PASSWORD}@{LOOPBACK}:{pg_port}/{name}"
        for name in SHARD_DATABASES
    )
    return {
        "CALENDAR_SHARDS": shards,
        "CALENDAR_REDIS_URL": f"redis://{LOOPBACK}:{redis_port}/0",
        "CALENDAR_KAFKA_BOOTSTRAP": f"{LOOPBACK}:{kafka_port}",
    }


def _port_of(address: str) -> int:
    """Port of ``host:port`` or of a URL/DSN ``...@host:port/db``."""
    return int(address.rsplit(":", 1)[1].split("/", 1)[0])
