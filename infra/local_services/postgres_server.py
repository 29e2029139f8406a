"""PostgreSQL: one cluster per base directory, with the application role and shard databases.

Runs the Debian binaries directly (initdb, pg_ctl), as the ``postgres`` OS user when
started by root, listening on loopback only.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
from pathlib import Path

import psycopg
from psycopg import sql

from infra.local_services.errors import ServiceStartError, _tail
from infra.local_services.layout import _Layout
from infra.local_services.packages import _pg_bin_dir
from infra.local_services.ports import LOOPBACK, _free_ports
from infra.local_services.processes import (
    STOP_TIMEOUT,
    _pid_alive,
    _run,
    _service_pid,
    _terminate,
    _wait_until,
)

log = logging.getLogger(__name__)

SHARD_DATABASES = ("calendar_shard_0", "calendar_shard_1")
DB_USER = "calendar"
DB_PASSWORD = "calendar"

PG_OS_USER = "postgres"

PG_TIMEOUT = 60.0

# Unix socket paths are limited to 107 bytes; deeper base dirs fall back to TCP only.
MAX_SOCKET_DIR_LEN = 80


def _as_pg_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; root runs it as the Debian ``postgres`` user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", PG_OS_USER, "--", *cmd]


def _make_traversable(path: Path) -> None:
    """Let the postgres user reach ``path``: add search (x, not read) to root-owned parents.

    Needed because e.g. pytest's /tmp/pytest-of-root is 0700; without this initdb fails.
    """
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _prepare_pg_dirs(layout: _Layout) -> None:
    """Directories the unprivileged server user owns: it writes data, log and socket."""
    layout.pg_dir.mkdir(parents=True, exist_ok=True)
    layout.pg_socket_dir.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        return
    try:
        account = pwd.getpwnam(PG_OS_USER)
    except KeyError as exc:
        raise ServiceStartError("postgresql", f"no OS user {PG_OS_USER!r} to run it") from exc
    _make_traversable(layout.base)
    # initdb creates everything below these as the postgres user itself.
    for path in (layout.pg_dir, layout.pg_socket_dir):
        os.chown(path, account.pw_uid, account.pw_gid)


def _socket_dir(layout: _Layout) -> str:
    """Socket dir inside base_dir when short enough; else TCP only (nothing needs it)."""
    path = str(layout.pg_socket_dir)
    return path if len(path) <= MAX_SOCKET_DIR_LEN else ""


def _pg_conf(layout: _Layout) -> str:
    """Loopback only, no fsync (test data), room for connection pools of several apps."""
    return (
        "\n# added by infra/local_services.py\n"
        f"listen_addresses = '{LOOPBACK}'\n"
        f"unix_socket_directories = '{_socket_dir(layout)}'\n"
        "fsync = off\n"
        "full_page_writes = off\n"
        "max_connections = 200\n"
    )


def _init_pg(layout: _Layout, bin_dir: Path) -> None:
    """initdb once; a cluster that exists keeps its data across restarts."""
    if (layout.pg_data / "PG_VERSION").exists():
        return
    shutil.rmtree(layout.pg_data, ignore_errors=True)
    cmd = [
        str(bin_dir / "initdb"), "-D", str(layout.pg_data), "-U", "postgres",
        "-E", "UTF8", "--locale=C", "--auth=trust",
    ]  # fmt: skip
    _run("postgresql", _as_pg_user(cmd), timeout=PG_TIMEOUT, cwd=layout.pg_dir)
    with (layout.pg_data / "postgresql.conf").open("a") as conf:
        conf.write(_pg_conf(layout))


def _pg_admin_dsn(port: int) -> str:
    """The bootstrap superuser over TCP: trust auth on loopback, no socket path needed."""
    return f"host={LOOPBACK} port={port} user=postgres dbname=postgres connect_timeout=3"


def _pg_accepts(port: int) -> bool:
    """A real login, not just an open port: the server has finished recovery."""
    try:
        with psycopg.connect(_pg_admin_dsn(port)):
            return True
    except psycopg.OperationalError:
        return False


def _start_pg(layout: _Layout, bin_dir: Path) -> int:
    """Start the cluster on a new free port (pg_ctl -w waits), then create role and DBs."""
    port = _free_ports(1)[0]
    cmd = [
        str(bin_dir / "pg_ctl"), "-D", str(layout.pg_data), "-l", str(layout.pg_log),
        "-o", f"-p {port}", "-w", "-t", str(int(PG_TIMEOUT)), "start",
    ]  # fmt: skip
    try:
        _run("postgresql", _as_pg_user(cmd), timeout=PG_TIMEOUT + 10, cwd=layout.pg_dir)
    except ServiceStartError as exc:
        raise ServiceStartError("postgresql", exc.reason, _tail(layout.pg_log)) from exc
    _wait_until(
        "postgresql",
        lambda: _pg_accepts(port),
        alive=lambda: _pid_alive(_pg_pid(layout)),
        timeout=PG_TIMEOUT,
        log_file=layout.pg_log,
    )
    _create_databases(port)
    return port


def _create_databases(port: int) -> None:
    """The application role and one database per shard, created only if missing."""
    with psycopg.connect(_pg_admin_dsn(port), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DB_USER,)).fetchone():
            conn.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(DB_USER), sql.Literal(DB_PASSWORD)
                )
            )
        else:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(DB_USER), sql.Literal(DB_PASSWORD)
                )
            )
        for name in SHARD_DATABASES:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(DB_USER)
                    )
                )


def _pg_pid(layout: _Layout) -> int | None:
    return _service_pid(layout.pg_data / "postmaster.pid", layout.pg_data)


def _stop_pg(layout: _Layout) -> None:
    """pg_ctl stop -m fast; if pg_ctl is gone or fails, SIGINT (the same fast shutdown)."""
    pid = _pg_pid(layout)
    if not _pid_alive(pid):
        return
    bin_dir = _pg_bin_dir()
    if bin_dir is not None:
        cmd = [str(bin_dir / "pg_ctl"), "-D", str(layout.pg_data), "-m", "fast", "-w", "stop"]
        try:
            _run("postgresql", _as_pg_user(cmd), timeout=STOP_TIMEOUT + 10, cwd=layout.pg_dir)
        except ServiceStartError as exc:
            log.warning("pg_ctl stop failed, signalling instead: %s", exc)
    _terminate(pid, signal.SIGINT)
