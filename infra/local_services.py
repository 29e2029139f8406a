"""Install, start and stop real PostgreSQL, Redis and Kafka for development and tests.

Why this exists: the distributed deployment must be tested against the real services, and
the development and CI machines have no Docker engine. Everything therefore comes from
what those machines can reach: Debian packages (PostgreSQL, Redis, Java, Maven) and Maven
Central (the Kafka broker jars, see ``infra/kafka/pom.xml``).

Each service listens on a free loopback port and keeps all of its state under one base
directory, so several checkouts (or several test sessions) can run side by side.
``up`` is idempotent: called again on a directory whose services are still running, it
returns the same settings without starting anything. Any service that cannot start
raises :class:`ServiceStartError` with the tail of its log, so a broken environment fails
the build loudly instead of silently skipping the tests that need it.

Command line (stdout carries only ``KEY=value`` lines, progress goes to stderr)::

    python -m infra.local_services up .services
    python -m infra.local_services down .services
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

SETTING_KEYS = ("CALENDAR_SHARDS", "CALENDAR_REDIS_URL", "CALENDAR_KAFKA_BOOTSTRAP")
SHARD_DATABASES = ("calendar_shard_0", "calendar_shard_1")
DB_USER = "calendar"
DB_PASSWORD = "calendar"
LOOPBACK = "127.0.0.1"
STATE_FILE = "services.env"
PG_OS_USER = "postgres"

PG_TIMEOUT = 60.0
REDIS_TIMEOUT = 30.0
KAFKA_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
INSTALL_TIMEOUT = 1800.0

KAFKA_POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
KAFKA_LIBS_ENV = "CALENDAR_KAFKA_LIBS"
KAFKA_READY_MARKER = "Kafka Server started"
KAFKA_JVM_OPTIONS = ("-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
LIBS_MARKER = ".pom-sha256"
PORT_CLASH = "Address already in use"
PORT_ATTEMPTS = 3
ERROR_WORDS = ("ERROR", "FATAL", "Exception", "# ")

# Unix socket paths are limited to 107 bytes; deeper base dirs fall back to TCP only.
MAX_SOCKET_DIR_LEN = 80

# Popen handles of servers started by this process: kept so they can be reaped (no
# zombies that look alive) and so Python does not warn about them being collected.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ServiceStartError(RuntimeError):
    """A service could not be installed or started; carries its log tail for diagnosis."""

    def __init__(self, name: str, reason: str, log_tail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        message = f"{name} could not start: {reason}"
        if log_tail:
            message += f"\n--- last lines of the {name} log ---\n{log_tail}"
        super().__init__(message)


@dataclass(frozen=True)
class _Layout:
    """Where each service keeps its state, all below one base directory."""

    base: Path

    @property
    def state_file(self) -> Path:
        return self.base / STATE_FILE

    @property
    def pg_dir(self) -> Path:
        return self.base / "pg"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.pg_dir / "run"

    @property
    def pg_log(self) -> Path:
        return self.pg_dir / "postgres.log"

    @property
    def redis_dir(self) -> Path:
        return self.base / "redis"

    @property
    def redis_data(self) -> Path:
        return self.redis_dir / "data"

    @property
    def redis_conf(self) -> Path:
        return self.redis_dir / "redis.conf"

    @property
    def redis_pid(self) -> Path:
        return self.redis_dir / "redis.pid"

    @property
    def redis_log(self) -> Path:
        return self.redis_dir / "redis.log"

    @property
    def kafka_dir(self) -> Path:
        return self.base / "kafka"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_props(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def kafka_log4j(self) -> Path:
        return self.kafka_dir / "log4j2.xml"

    @property
    def kafka_pid(self) -> Path:
        return self.kafka_dir / "kafka.pid"

    @property
    def kafka_log(self) -> Path:
        return self.kafka_dir / "kafka.log"


# --------------------------------------------------------------------------- public API


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


def kafka_libs_dir() -> Path:
    """The Kafka jar cache: shared by all checkouts because it is tens of MB."""
    override = os.environ.get(KAFKA_LIBS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".cache" / "calendar-backend" / "kafka-libs"


# --------------------------------------------------------------------------- helpers


def _tail_text(text: str, lines: int = 40) -> str:
    """Last lines of a log, preceded by earlier error lines: a Java stack trace would
    otherwise push the one line that says what went wrong out of the excerpt."""
    all_lines = text.splitlines()
    head, tail = all_lines[:-lines], all_lines[-lines:]
    errors = [line for line in head if any(word in line for word in ERROR_WORDS)][:10]
    if errors:
        return "\n".join([*errors, "...", *tail])
    return "\n".join(tail)


def _tail(path: Path, lines: int = 40) -> str:
    """Excerpt of a log file for error messages; empty if there is no log yet."""
    try:
        return _tail_text(path.read_text(errors="replace"), lines)
    except OSError:
        return ""


def _run(
    name: str,
    cmd: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a setup command; a failure becomes a ServiceStartError with its output."""
    log.info("%s: %s", name, " ".join(cmd))
    try:
        done = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceStartError(name, f"{cmd[0]} failed: {exc}") from exc
    output = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        reason = f"{' '.join(cmd)} exited with status {done.returncode}"
        raise ServiceStartError(name, reason, _tail_text(output))
    return output


def _free_ports(count: int) -> list[int]:
    """Ports the kernel considers free on loopback; all held open until all are chosen."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _read_pid(path: Path) -> int | None:
    """First line of a pid file (PostgreSQL's postmaster.pid has more lines)."""
    try:
        first = path.read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def _service_pid(pid_file: Path, workdir: Path) -> int | None:
    """The pid in ``pid_file`` if that process still runs in ``workdir``.

    After a crash or a reboot the number may belong to an unrelated process, which must
    never be signalled; every service here runs in a directory of its own under base_dir.
    """
    pid = _read_pid(pid_file)
    if pid is None:
        return None
    try:
        return pid if Path(os.readlink(f"/proc/{pid}/cwd")) == workdir else None
    except OSError:
        return None


def _is_zombie(pid: int) -> bool:
    """An exited process nobody reaped still answers kill(pid, 0); it is not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def _pid_alive(pid: int | None) -> bool:
    """Whether a process runs; reaps our own children so a dead broker is not a zombie."""
    if pid is None:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """True once the process is gone, False if it still runs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return not _pid_alive(pid)


def _terminate(pid: int | None, first: signal.Signals = signal.SIGTERM) -> None:
    """Polite signal, then SIGKILL after STOP_TIMEOUT: stopping must never hang forever."""
    if pid is None:
        return
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, first)
        if not _wait_for_exit(pid, STOP_TIMEOUT):
            log.warning("pid %s ignored %s; killing it", pid, first.name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not _wait_for_exit(pid, 10.0):
                raise RuntimeError(f"pid {pid} survived SIGKILL")
    _CHILDREN.pop(pid, None)


def _spawn(name: str, cmd: list[str], log_file: Path, cwd: Path | None) -> subprocess.Popen[bytes]:
    """Start a long-running server in its own session, output appended to its log.

    Not a daemon: a child's exit is seen at once (a port clash fails in milliseconds,
    not after a grace period), and a pid file next to the log lets ``down`` find it
    from another process.
    """
    log.info("%s: %s", name, " ".join(cmd))
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _CHILDREN[proc.pid] = proc
    return proc


def _wait_until(
    name: str,
    ready: Callable[[], bool],
    *,
    alive: Callable[[], bool],
    timeout: float,
    log_file: Path,
) -> None:
    """Poll ``ready``; fail fast if the process died, fail loudly on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise ServiceStartError(name, "the process exited", _tail(log_file))
        time.sleep(0.25)
    raise ServiceStartError(name, f"not ready after {timeout:.0f} s", _tail(log_file))


# --------------------------------------------------------------------------- installation


def _pg_bin_dir() -> Path | None:
    """Newest /usr/lib/postgresql/<major>/bin: the real binaries, not /usr/local wrappers."""
    candidates = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if (path / "initdb").exists() and path.parent.name.isdigit()
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda path: int(path.parent.name))


def _missing_packages() -> list[str]:
    """Debian packages whose programs are absent; Java and Maven only matter for Kafka."""
    missing = []
    if _pg_bin_dir() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if shutil.which("java") is None:
        missing.append("default-jre-headless")
    if shutil.which("mvn") is None:
        missing.append("maven")
    return missing


def _privileged(cmd: list[str]) -> list[str]:
    """apt-get needs root; use non-interactive sudo when run by a normal user."""
    if os.geteuid() == 0:
        return cmd
    if shutil.which("sudo") is None:
        raise ServiceStartError("install", f"not root and no sudo to run {' '.join(cmd)}")
    return ["sudo", "-n", *cmd]


def _ensure_packages() -> None:
    """apt-get install only what is missing, so warm runs never touch apt."""
    missing = _missing_packages()
    if not missing:
        return
    log.info("installing Debian packages: %s", " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    _run("install", _privileged(["apt-get", *lock, "update"]), timeout=INSTALL_TIMEOUT, env=env)
    install = ["apt-get", *lock, "install", "-y", "--no-install-recommends", *missing]
    _run("install", _privileged(install), timeout=INSTALL_TIMEOUT, env=env)
    still_missing = _missing_packages()
    if still_missing:
        raise ServiceStartError("install", f"still missing after apt-get: {still_missing}")


def _pom_digest() -> str:
    """Identifies the jar set: a changed POM (e.g. a new Kafka version) refreshes the cache."""
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def _ensure_kafka_libs() -> Path:
    """Download the broker jars once per POM version into the cache folder.

    A folder with Kafka jars but without our marker was filled by someone else (through
    CALENDAR_KAFKA_LIBS) and is used as it is, never replaced. Downloads go to a sibling
    folder that is renamed into place, so an interrupted download never leaves a
    half-filled cache and jars of two Kafka versions never mix.
    """
    libs = kafka_libs_dir()
    digest = _pom_digest()
    if _libs_current(libs, digest) or _libs_foreign(libs):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = libs.parent / f"{libs.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(KAFKA_POM),
        "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    _run("kafka", cmd, timeout=INSTALL_TIMEOUT, cwd=KAFKA_POM.parent)
    if not _has_kafka_jar(staging):
        raise ServiceStartError("kafka", f"maven produced no kafka_2.13 jar in {staging}")
    (staging / LIBS_MARKER).write_text(digest + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    try:
        staging.rename(libs)
    except OSError:
        # Another run filled the cache at the same moment; use its copy if it is current.
        shutil.rmtree(staging, ignore_errors=True)
        if not _libs_current(libs, digest):
            raise
    return libs


def _has_kafka_jar(libs: Path) -> bool:
    return any(libs.glob("kafka_2.13-*.jar"))


def _libs_current(libs: Path, digest: str) -> bool:
    marker = libs / LIBS_MARKER
    return marker.exists() and marker.read_text().strip() == digest and _has_kafka_jar(libs)


def _libs_foreign(libs: Path) -> bool:
    return not (libs / LIBS_MARKER).exists() and _has_kafka_jar(libs)


# --------------------------------------------------------------------------- PostgreSQL


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


# --------------------------------------------------------------------------- Redis


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


# --------------------------------------------------------------------------- Kafka


def _kafka_properties(layout: _Layout, port: int, controller_port: int) -> str:
    """One combined broker+controller; internal topics sized for a single node."""
    listeners = f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}"
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers={LOOPBACK}:{controller_port}",
            f"listeners={listeners}",
            f"advertised.listeners={listeners}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={layout.kafka_data}",
            "num.partitions=1",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=5",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=5",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.cleaner.dedupe.buffer.size=16777216",
            "num.network.threads=2",
            "num.io.threads=4",
            "",
        ]
    )


LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- WARN and above, plus the line that says the broker is ready. -->
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="STDOUT"/></Root>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
  </Loggers>
</Configuration>
"""


def _kafka_cluster_id() -> str:
    """Same format as ``StorageTool random-uuid`` (URL-safe base64, no padding, no
    leading dash), without paying for a JVM start."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _java() -> str:
    """The java binary; Kafka 4 needs 17 or newer (Debian 12's default)."""
    java = shutil.which("java")
    if java is None:
        raise ServiceStartError("kafka", "java is not installed")
    return java


def _java_cmd(layout: _Layout, libs: Path, main_class: str, *args: str) -> list[str]:
    """Broker jars on their own classpath in their own JVM (kafka.Kafka may System.exit)."""
    return [
        _java(),
        *KAFKA_JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={layout.kafka_log4j}",
        f"-Dkafka.logs.dir={layout.kafka_dir / 'logs'}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    ]


def _format_kafka(layout: _Layout, libs: Path) -> None:
    """A fresh, formatted log dir per start: formatting twice or not at all both fail."""
    shutil.rmtree(layout.kafka_data, ignore_errors=True)
    cmd = _java_cmd(
        layout, libs, "kafka.tools.StorageTool", "format", "-t", _kafka_cluster_id(),
        "-c", str(layout.kafka_props), "--standalone",
    )  # fmt: skip
    _run("kafka", cmd, timeout=KAFKA_TIMEOUT, cwd=layout.kafka_dir)


def _kafka_answers(bootstrap: str) -> bool:
    """An admin metadata call that lists the broker: the listener really serves clients."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})
    try:
        metadata = admin.list_topics(timeout=5)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def _kafka_started(layout: _Layout) -> bool:
    """KafkaRaftServer logs the marker once broker and controller are both up."""
    try:
        return KAFKA_READY_MARKER in layout.kafka_log.read_text(errors="replace")
    except OSError:
        return False


def _start_kafka(layout: _Layout, libs: Path) -> int:
    """Format a fresh log dir, start the broker JVM, wait for the log marker and metadata."""
    layout.kafka_dir.mkdir(parents=True, exist_ok=True)
    port, controller_port = _free_ports(2)
    layout.kafka_props.write_text(_kafka_properties(layout, port, controller_port))
    layout.kafka_log4j.write_text(LOG4J2_XML)
    _format_kafka(layout, libs)
    cmd = _java_cmd(layout, libs, "kafka.Kafka", str(layout.kafka_props))
    layout.kafka_log.unlink(missing_ok=True)  # the ready marker must come from this run
    proc = _spawn("kafka", cmd, layout.kafka_log, cwd=layout.kafka_dir)
    layout.kafka_pid.write_text(f"{proc.pid}\n")
    bootstrap = f"{LOOPBACK}:{port}"
    _wait_until(
        "kafka",
        lambda: _kafka_started(layout) and _kafka_answers(bootstrap),
        alive=lambda: proc.poll() is None,
        timeout=KAFKA_TIMEOUT,
        log_file=layout.kafka_log,
    )
    return port


def _kafka_pid(layout: _Layout) -> int | None:
    return _service_pid(layout.kafka_pid, layout.kafka_dir)


def _stop_kafka(layout: _Layout) -> None:
    """SIGTERM runs the broker's controlled shutdown; SIGKILL if it takes too long."""
    _terminate(_kafka_pid(layout))
    layout.kafka_pid.unlink(missing_ok=True)


# --------------------------------------------------------------------------- orchestration


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


def _retry_port_clash(name: str, start: Callable[[], int]) -> int:
    """Run ``start`` again (it picks new ports) if another process took a chosen port.

    A port is only known to be free when it is picked; something else on the machine
    (another test session, an outgoing connection) can bind it before the service does.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return start()
        except ServiceStartError as exc:
            if attempt == PORT_ATTEMPTS or PORT_CLASH not in exc.log_tail:
                raise
            log.warning("%s: a chosen port was taken meanwhile; retrying", name)
    raise AssertionError("unreachable")


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


def _port_of(address: str) -> int:
    """Port of ``host:port`` or of a URL/DSN ``...@host:port/db``."""
    return int(address.rsplit(":", 1)[1].split("/", 1)[0])


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


def _main(argv: Sequence[str]) -> int:
    """``up DIR`` prints the settings; ``down DIR`` stops; failures print the log tail."""
    log_format = "[services +%(relativeCreated).0fms] %(message)s"
    logging.basicConfig(level=logging.INFO, format=log_format, stream=sys.stderr)
    if len(argv) not in (1, 2) or argv[0] not in ("up", "down"):
        print("usage: python -m infra.local_services up|down [DIR]", file=sys.stderr)
        return 2
    base_dir = Path(argv[1] if len(argv) == 2 else ".services")
    if argv[0] == "down":
        down(base_dir)
        return 0
    try:
        settings = up(base_dir)
    except ServiceStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(format_settings(settings))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
