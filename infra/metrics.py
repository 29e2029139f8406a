"""/metrics in the Prometheus text format (version 0.0.4): how far behind each stage of
the pipeline is. Relay backlog per shard (committed to the log, not yet in Kafka),
consumer lag per group and partition (in Kafka, not yet consumed and committed), and
projection lag per projection and shard (in the log, not yet applied to the views)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, TopicPartition

Labels = tuple[tuple[str, str], ...]
PROBE_SECONDS = 5.0


def gauge(name: str, help_text: str, samples: Mapping[Labels, float]) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in sorted(samples.items()):
        rendered = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels)
        lines.append(f"{name}{{{rendered}}} {value:g}")
    return "\n".join(lines) + "\n"


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class ConsumerLag:
    """Messages in each partition beyond a group's committed offset. Uses a consumer
    that never subscribes, so asking does not disturb the group."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self.bootstrap = bootstrap
        self._probes: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _probe(self, group: str) -> Any:
        if group not in self._probes:
            self._probes[group] = Consumer({"bootstrap.servers": self.bootstrap,
                                            "group.id": group, "enable.auto.commit": False})
        return self._probes[group]

    def lag(self, group: str) -> dict[int, int]:
        with self._lock:
            return self._lag(group)

    def _lag(self, group: str) -> dict[int, int]:
        probe = self._probe(group)
        committed = probe.committed(self.partitions, timeout=PROBE_SECONDS)
        found = {}
        for tp in committed:
            low, high = probe.get_watermark_offsets(tp, timeout=PROBE_SECONDS, cached=False)
            done = tp.offset if tp.offset >= 0 else low
            found[tp.partition] = max(0, high - done)
        return found

    def samples(self, groups: Sequence[str]) -> dict[Labels, float]:
        return {(("group", g), ("partition", str(p))): lag
                for g in groups for p, lag in self.lag(g).items()}

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        for probe in self._probes.values():
            probe.close()
        self._probes.clear()
