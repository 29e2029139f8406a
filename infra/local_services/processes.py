"""Processes: run setup commands, spawn servers, find, wait for and stop them by pid.

Servers are children of this process, each in its own session, with a pid file next to
its log so that ``down`` from another process can find it; a pid is only signalled while
it still runs in the service's own directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.local_services.errors import ServiceStartError, _tail, _tail_text

log = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0

# Popen handles of servers started by this process: kept so they can be reaped (no
# zombies that look alive) and so Python does not warn about them being collected.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


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
