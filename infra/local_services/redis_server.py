"""Redis: one server per base directory, append-only so writes survive a killed server."""

from __future__ import annotations

import contextlib
import shutil

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from infra.local_services.errors import ServiceStartError
from infra.local_services.layout import _Layout
from infra.local_services.ports import LOOPBACK, _free_ports
from infra.local_services.processes import _pid_alive, _service_pid, _spawn, _terminate, _wait_until

REDIS_TIMEOUT = 30.0


def _redis_conf(layout: _Layout, port: int) -> str:
    """Append-only file, no RDB snapshots: writes survive a killed server (crash tests).

    ``appendfsync everysec`` is enough for that: Redis write()s the AOF before it replies,
    so only an OS crash, not a process crash, can lose an acknowledged write.
    """
    return (
        f"bind {LOOPBACK}\n"
        f"port {port}\n"
        "protected-mode yes\n"
        "daemonize no\n"
        f'pidfile "{layout.redis_pid}"\n'
        f'logfile "{layout.redis_log}"\n'
        f'dir "{layout.redis_data}"\n'
        'save ""\n'
        "appendonly yes\n"
        "appendfsync everysec\n"
    )


def _redis_client(port: int) -> redis.Redis[bytes]:
    """No retries: redis-py's default backoff turns SHUTDOWN and failed pings into seconds."""
    return redis.Redis(
        host=LOOPBACK,
        port=port,
        socket_timeout=3,
        socket_connect_timeout=3,
        retry=Retry(NoBackoff(), 0),
    )


def _redis_pings(port: int) -> bool:
    """PING answered: Redis has loaded its append-only file and serves commands."""
    try:
        with _redis_client(port) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _start_redis(layout: _Layout) -> int:
    """Start Redis on a new free port with a freshly written config; wait for PING."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise ServiceStartError("redis", "redis-server is not installed")
    port = _free_ports(1)[0]
    layout.redis_data.mkdir(parents=True, exist_ok=True)
    layout.redis_conf.write_text(_redis_conf(layout, port))
    proc = _spawn("redis", [redis_server, str(layout.redis_conf)], layout.redis_log, cwd=None)
    layout.redis_pid.write_text(f"{proc.pid}\n")
    _wait_until(
        "redis", lambda: _redis_pings(port), alive=lambda: proc.poll() is None,
        timeout=REDIS_TIMEOUT, log_file=layout.redis_log,
    )  # fmt: skip
    return port


def _redis_port(layout: _Layout) -> int | None:
    """The port of the last start, from the config written for it (to send SHUTDOWN)."""
    try:
        for line in layout.redis_conf.read_text().splitlines():
            if line.startswith("port "):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _redis_pid(layout: _Layout) -> int | None:
    return _service_pid(layout.redis_pid, layout.redis_data)


def _stop_redis(layout: _Layout) -> None:
    """SHUTDOWN NOSAVE (the AOF is still flushed), then signals if it did not exit."""
    pid = _redis_pid(layout)
    port = _redis_port(layout)
    if _pid_alive(pid) and port is not None:
        with contextlib.suppress(redis.RedisError), _redis_client(port) as client:
            client.shutdown(nosave=True)
    _terminate(pid)
    layout.redis_pid.unlink(missing_ok=True)
