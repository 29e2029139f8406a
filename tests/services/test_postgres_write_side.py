"""The write-side contract on real PostgreSQL: two shards in two databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from commands.application import CalendarShard
from commands.service import CalendarStores
from infra.postgres import postgres_env, shard_dsns
from tests.write_side.contract import WriteSideContract, stores_over


class TestPostgres(WriteSideContract):
    @pytest.fixture
    def stores(self, services: dict[str, str]) -> Iterator[CalendarStores]:
        dsns = shard_dsns(services["CALENDAR_SHARDS"])
        assert len(dsns) == 2
        shards = [CalendarShard(i, postgres_env(dsn)) for i, dsn in enumerate(dsns)]
        yield stores_over(shards)
        for shard in shards:
            shard.close()
