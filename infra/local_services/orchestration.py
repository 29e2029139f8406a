"""``up`` and ``down``: all three services of a base directory, one call at a time.

``up`` is idempotent and stops whatever it started when a service fails; ``down`` stops
whatever runs and keeps the data on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from infra.local_services.errors import ServiceStartError
from infra.local_services.kafka_broker import _kafka_answers, _kafka_pid, _start_kafka, _stop_kafka
from infra.local_services.kafka_libs import _ensure_kafka_libs
from infra.local_services.layout import _Layout
from infra.local_services.packages import _ensure_packages, _pg_bin_dir
from infra.local_services.ports import _retry_port_clash
from infra.local_services.postgres_server import (
    _init_pg,
    _pg_accepts,
    _pg_pid,
    _prepare_pg_dirs,
    _start_pg,
    _stop_pg,
)
from infra.local_services.processes import _pid_alive
from infra.local_services.redis_server import _redis_pid, _redis_pings, _start_redis, _stop_redis
from infra.local_services.settings import (
    SETTING_KEYS,
    _port_of,
    _settings,
    format_settings,
    parse_settings,
)

log = logging.getLogger(__name__)


def up(base_dir: Path) -> dict[str, str]:
    """Install what is missing, start PostgreSQL, Redis and Kafka, return their settings.

    Idempotent: if the services recorded in ``base_dir`` are still running and answering,
    their settings are returned unchanged. Otherwise leftovers of an earlier run are
    stopped and everything is started again (PostgreSQL and Redis data are kept, Kafka
    gets a fresh log dir). On failure whatever was started is stopped again, then the
    :class:`ServiceStartError` propagates.
    """
    layout = _Layout(base_dir.resolve())
    layout.base.mkdir(parents=True, exist_ok=True)
    with _locked(layout):
        running = _running_settings(layout)
        if running is not None:
            log.info("services in %s are already running", layout.base)
            return running
        _ensure_packages()
        libs = _ensure_kafka_libs()
        _stop_all(layout)
        try:
            settings = _start_all(layout, libs)
        except BaseException:
            _stop_all(layout)
            raise
        layout.state_file.write_text(format_settings(settings))
        return settings


def down(base_dir: Path) -> None:
    """Stop the services of ``base_dir`` (whatever is running); data stays on disk."""
    layout = _Layout(base_dir.resolve())
    if not layout.base.is_dir():
        return
    with _locked(layout):
        _stop_all(layout)


@contextlib.contextmanager
def _locked(layout: _Layout) -> Iterator[None]:
    """One ``up``/``down`` at a time per base dir (e.g. two terminals, CI retries)."""
    with (layout.base / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stop_all(layout: _Layout) -> None:
    """Stop in reverse dependency order; each stop is a no-op if that service is not running."""
    _stop_kafka(layout)
    _stop_redis(layout)
    _stop_pg(layout)
    layout.state_file.unlink(missing_ok=True)


def _start_all(layout: _Layout, libs: Path) -> dict[str, str]:
    """Start the three services; PostgreSQL first as it is the quickest to fail."""
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        raise ServiceStartError("postgresql", "no /usr/lib/postgresql/*/bin after install")
    started = time.monotonic()
    _prepare_pg_dirs(layout)
    _init_pg(layout, bin_dir)
    pg_port = _retry_port_clash("postgresql", lambda: _start_pg(layout, bin_dir))
    log.info("postgresql ready on port %s", pg_port)
    redis_port = _retry_port_clash("redis", lambda: _start_redis(layout))
    log.info("redis ready on port %s", redis_port)
    kafka_port = _retry_port_clash("kafka", lambda: _start_kafka(layout, libs))
    log.info("kafka ready on port %s (all up in %.1f s)", kafka_port, time.monotonic() - started)
    return _settings(pg_port, redis_port, kafka_port)


def _running_settings(layout: _Layout) -> dict[str, str] | None:
    """The recorded settings, if all three recorded processes still run and answer."""
    try:
        settings = parse_settings(layout.state_file.read_text())
    except OSError:
        return None
    if any(key not in settings for key in SETTING_KEYS):
        return None
    pids = [
        _pg_pid(layout),
        _redis_pid(layout),
        _kafka_pid(layout),
    ]
    if not all(_pid_alive(pid) for pid in pids):
        return None
    try:
        pg_port = _port_of(settings["CALENDAR_SHARDS"].split(",")[0])
        redis_port = _port_of(settings["CALENDAR_REDIS_URL"])
    except (IndexError, ValueError):
        return None
    answering = (
        _pg_accepts(pg_port)
        and _redis_pings(redis_port)
        and _kafka_answers(settings["CALENDAR_KAFKA_BOOTSTRAP"])
    )
    return settings if answering else None
