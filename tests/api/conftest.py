"""Real HTTP through the app: uvicorn on a free loopback port, a fresh SQLite data dir
per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.client import Api, embedded_server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server = embedded_server(tmp_path_factory.mktemp("data"))
    with server as base_url, Api(base_url) as client:
        yield client
