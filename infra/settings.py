"""The one typed settings object. Environment variables `CALENDAR_*`; with none of the
distributed ones set, everything runs on the embedded default under `data_dir`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALENDAR_")

    data_dir: Path = Path("data")
    secret: str | None = Field(default=None, description="HS256 key; generated if unset")
    open_signup: bool = True
    token_ttl_hours: int = Field(default=24 * 30, ge=1)
    embedded_shards: int = Field(default=1, ge=1, le=64)
    logical_shards: int = Field(default=256, ge=1)
    ryow_timeout_seconds: float = Field(default=2.0, ge=0)
    # Per caller and API process: requests per second, and how many may come at once.
    # 0 switches limiting off.
    rate_limit_per_second: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=300, ge=1)
    shards: str = Field(default="", description="comma-separated PostgreSQL DSNs")
    kafka_bootstrap: str = ""
    redis_url: str = ""
    # The distributed deployment's names and sizes. Defaults suit one deployment per
    # set of databases; tests give each run its own names so runs never share state.
    event_store_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]*$")
    views_schema: str = Field(default="calendar_views", pattern=r"^[a-z_][a-z0-9_]*$")
    kafka_topic: str = "calendar.events"
    kafka_partitions: int = Field(default=8, ge=1, le=1024)
    kafka_replication: int = Field(default=1, ge=1)
    consumer_group_prefix: str = "calendar"
    worker_id: str = Field(default="", description="static Kafka group membership id")
    # How long a consumer's fetch may wait for `consumer_fetch_min_bytes` to gather: a
    # little latency per hop buys bigger batches (fewer transactions) under load.
    consumer_fetch_wait_ms: int = Field(default=500, ge=1, le=5000)
    consumer_fetch_min_bytes: int = Field(default=1, ge=1)
    redis_prefix: str = "cal:"
    pg_pool_size: int = Field(default=5, ge=1)

    @property
    def is_distributed(self) -> bool:
        return bool(self.shards)
