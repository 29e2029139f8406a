"""Where each service keeps its state, all below one base directory (``_Layout``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "services.env"


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
