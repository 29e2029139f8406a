"""The write-side contract on the in-memory (POPO) and SQLite event stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.application import CalendarShard
from commands.service import CalendarStores
from tests.write_side.contract import WriteSideContract, stores_over


class TestInMemory(WriteSideContract):
    @pytest.fixture
    def stores(self) -> CalendarStores:
        return stores_over([CalendarShard(i, {"PERSISTENCE_MODULE": "eventsourcing.popo"})
                            for i in range(2)])


class TestSqlite(WriteSideContract):
    @pytest.fixture
    def stores(self, tmp_path: Path) -> CalendarStores:
        return stores_over([CalendarShard(i, {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / f"events-{i}.sqlite")}) for i in range(2)])
