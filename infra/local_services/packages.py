"""Debian packages: PostgreSQL, Redis, Java and Maven, installed with apt-get when missing."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from infra.local_services.errors import ServiceStartError
from infra.local_services.processes import _run

log = logging.getLogger(__name__)

INSTALL_TIMEOUT = 1800.0


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
