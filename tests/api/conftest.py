"""Real HTTP through the app: uvicorn on a free loopback port, a fresh SQLite data dir
per test module."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from infra.app import create_app
from infra.bootstrap import embedded
from infra.settings import Settings
from tests.api.client import Api


class ServerThread:
    def __init__(self, data_dir: Path) -> None:
        app = create_app(embedded(Settings(data_dir=data_dir)))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with ServerThread(tmp_path_factory.mktemp("data")) as base_url, Api(base_url) as client:
        yield client
