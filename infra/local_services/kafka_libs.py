"""The Kafka broker jars from Maven Central (``infra/kafka/pom.xml``), cached per POM version."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from infra.local_services.errors import ServiceStartError
from infra.local_services.packages import INSTALL_TIMEOUT
from infra.local_services.processes import _run

KAFKA_POM = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
KAFKA_LIBS_ENV = "CALENDAR_KAFKA_LIBS"

LIBS_MARKER = ".pom-sha256"


def kafka_libs_dir() -> Path:
    """The Kafka jar cache: shared by all checkouts because it is tens of MB."""
    override = os.environ.get(KAFKA_LIBS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".cache" / "calendar-backend" / "kafka-libs"


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
