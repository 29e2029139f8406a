"""The end-to-end scenario of tests/api/test_scenario.py, unchanged, in the distributed
deployment: two PostgreSQL shards (organizer and guest on different ones), the outbox
relay to Kafka, Kafka-fed fan-out and projectors, views in PostgreSQL, free/busy in
Redis (or, without CALENDAR_REDIS_URL, in PostgreSQL like the other views); all workers
in the API's process (`calctl serve --workers`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.app import create_app
from infra.distributed import distributed
from tests.api.client import ServerThread
from tests.api.test_scenario import (  # collected here, against this module's `api`
    test_two_users_in_different_zones_share_a_weekly_meeting,
)
from tests.services.distributed_support import (
    AlternatingShardsApi,
    distributed_settings,
    drop_everything,
    wait_until,
)

pytestmark = pytest.mark.services
__all__ = ["test_two_users_in_different_zones_share_a_weekly_meeting"]


@pytest.fixture(scope="module", params=["redis", "postgres"])
def api(request: pytest.FixtureRequest, services: dict[str, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlternatingShardsApi]:
    settings = distributed_settings(services, tmp_path_factory.mktemp("distributed"))
    if request.param == "postgres":
        settings.redis_url = ""
    container = distributed(settings, workers=True)
    try:
        with ServerThread(create_app(container)) as base_url:
            client = AlternatingShardsApi(base_url, container.backend.shard_map)
            wait_until(lambda: client.http.get("/readyz").status_code == 200, 90,
                       "the workers to join their consumer groups")
            yield client
            client.http.close()
    finally:
        drop_everything(settings)


def test_consecutive_sign_ups_land_on_different_shards(api: AlternatingShardsApi) -> None:
    """So the scenario's organizer and guest live on different physical shards."""
    first, second = len(api.shards_used), len(api.shards_used) + 1
    api.sign_up()
    api.sign_up()
    assert {api.shards_used[first], api.shards_used[second]} == {0, 1}


def test_readiness_reports_every_dependency(api: AlternatingShardsApi) -> None:
    ready = api.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    expected = {"event_store_0", "event_store_1", "views_0", "views_1", "kafka", "workers"}
    assert set(ready.json()["checks"]) - {"redis"} == expected


def test_metrics_show_each_stage_of_the_pipeline(api: AlternatingShardsApi) -> None:
    body = api.http.get("/metrics")
    assert body.status_code == 200
    assert body.headers["content-type"].startswith("text/plain")
    for name in ("calendar_relay_backlog{shard=\"1\"}", "calendar_consumer_lag{group=",
                 "calendar_projection_lag{projection=\"freebusy\",shard=\"0\"}"):
        assert name in body.text, body.text
