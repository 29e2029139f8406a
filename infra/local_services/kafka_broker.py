"""Kafka: one combined broker and controller (KRaft) per base directory, in its own JVM.

The log dir is formatted afresh at every start; the broker is ready once it has logged
that it started and answers a metadata request.
"""

from __future__ import annotations

import base64
import shutil
import uuid
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from infra.local_services.errors import ServiceStartError
from infra.local_services.layout import _Layout
from infra.local_services.ports import LOOPBACK, _free_ports
from infra.local_services.processes import _run, _service_pid, _spawn, _terminate, _wait_until

KAFKA_TIMEOUT = 120.0

KAFKA_READY_MARKER = "Kafka Server started"
KAFKA_JVM_OPTIONS = ("-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true")


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
