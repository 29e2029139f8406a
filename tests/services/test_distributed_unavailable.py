"""A dependency that is down gives 503 with Retry-After (api-contract), never a 500, and
changes nothing: Redis unreachable for free/busy, a shard's views database unreachable
for a read and for the idempotency key of a write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from infra.app import create_app
from infra.distributed import DistributedContainer, Workers, distributed
from tests.api.client import Api, ServerThread
from tests.services.distributed_support import distributed_settings, drop_everything, wait_until

pytestmark = pytest.mark.services
DAY = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}


@pytest.fixture
def container(services: dict[str, str], tmp_path: Path) -> Iterator[DistributedContainer]:
    # Redis on a port nobody listens on (binding port 1 needs root; nothing does here).
    settings = distributed_settings(services, tmp_path, redis_url="redis://127.0.0.1:1/0")
    built = distributed(settings)
    users = Workers.of(built.backend, relay=True, fanout=False, projections=["users"])
    users.start()
    try:
        yield built
    finally:
        users.stop()
        built.close()
        settings.redis_url = services["CALENDAR_REDIS_URL"]
        drop_everything(settings)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 3
    assert response.json()["status"] == 503


def test_a_dependency_that_is_down_gives_503_and_changes_nothing(
        container: DistributedContainer) -> None:
    with ServerThread(create_app(container, start_delivery=False)) as url, Api(url) as api:
        alice = api.sign_up("UTC")
        ready = api.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("down")

        def availability() -> httpx.Response:
            return alice.post("/v1/availability", json={"user_ids": [alice.id], **DAY})

        wait_until(lambda: availability().status_code != 422, 30, "Alice in the users view")
        assert_unavailable(availability())

        shard = container.stores.user_shard(UUID(alice.id))
        written = shard.recorder.max_notification_id()
        container.views.of_user(alice.id).pool.close()  # Alice's views database goes away
        assert_unavailable(alice.get("/v1/calendar/view",
                                     params={"view": "week", "date": "2026-11-24"}))
        assert_unavailable(alice.post(
            "/v1/events", headers={"Idempotency-Key": "first-try"},
            json={"title": "Kept out", "start": "2026-11-24T09:00:00Z",
                  "end": "2026-11-24T10:00:00Z"}))
        assert shard.recorder.max_notification_id() == written
