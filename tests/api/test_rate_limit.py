"""Rate limiting over real HTTP (embedded default): each caller has a bucket of `burst`
requests refilled at `rate` per second; beyond it, 429 with Retry-After, and the
request is not run. Another caller is not affected."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.app import create_app
from infra.bootstrap import embedded
from infra.settings import Settings
from tests.api.client import Api, ServerThread

RATE, BURST = 2.0, 5


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path, rate_limit_per_second=RATE,
                        rate_limit_burst=BURST)
    with ServerThread(create_app(embedded(settings))) as url, Api(url) as client:
        yield client


def test_a_caller_beyond_the_burst_gets_429_and_the_request_is_not_run(api: Api) -> None:
    alice = api.sign_up("UTC")  # the sign-up came from the address's bucket, not hers
    statuses = [alice.post("/v1/events", json={
        "title": f"Burst {i}", "start": "2026-11-24T09:00:00Z",
        "end": "2026-11-24T10:00:00Z"}).status_code for i in range(BURST + 2)]
    assert statuses[:BURST] == [201] * BURST
    limited = alice.get("/v1/calendar/view", params={"view": "day", "date": "2026-11-24"})
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) >= 1
    assert api.http.get("/healthz").status_code == 200  # never limited

    bob = api.sign_up("UTC")
    assert bob.get("/v1/users/me").status_code == 200  # his own bucket

    time.sleep(int(limited.headers["retry-after"]))
    view = alice.get("/v1/calendar/view", params={"view": "day", "date": "2026-11-24"})
    assert view.status_code == 200
    assert len(view.json()["items"]) == statuses.count(201)
