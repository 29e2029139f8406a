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
    shards: str = Field(default="", description="comma-separated PostgreSQL DSNs")
    kafka_bootstrap: str = ""
    redis_url: str = ""

    @property
    def is_distributed(self) -> bool:
        return bool(self.shards)
