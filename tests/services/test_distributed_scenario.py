"""The end-to-end scenario of tests/api/test_scenario.py, unchanged, in the distributed
deployment: two PostgreSQL shards (organizer and guest on different ones), the outbox
relay to Kafka, Kafka-fed fan-out and projectors, views in PostgreSQL, free/busy in
Redis (or, without CALENDAR_REDIS_URL, in PostgreSQL like the other views; or with
consumers that batch their fetches); all workers in the API's process
(`calctl serve --workers`)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

from infra.app import create_app
from infra.distributed import distributed
from tests.api.client import ServerThread
from tests.api.client import User as ApiUser
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


@pytest.fixture(scope="module", params=["redis", "postgres", "batched-fetches"])
def api(request: pytest.FixtureRequest, services: dict[str, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlternatingShardsApi]:
    settings = distributed_settings(services, tmp_path_factory.mktemp("distributed"))
    if request.param == "postgres":
        settings.redis_url = ""
    if request.param == "batched-fetches":  # consumers wait for 64 KiB or 20 ms
        settings.consumer_fetch_min_bytes, settings.consumer_fetch_wait_ms = 65536, 20
    container = distributed(settings, workers=True)
    try:
        with ServerThread(create_app(container)) as base_url:
            client = AlternatingShardsApi(base_url, container.backend.shard_map)
            client.views = container.backend.views
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


def test_each_users_rows_live_on_that_users_shard(api: AlternatingShardsApi) -> None:
    """The guest's calendar entry comes from the guest's Invitation on the guest's shard;
    the event's own rows and the answers the organizer sees stay on the organizer's."""
    organizer, guest = api.sign_up(), api.sign_up()
    event = organizer.create_event(title="Placement", guests=[guest.email])
    wait_until(lambda: guest.patch(f"/v1/invitations/{event['event_id']}/rsvp",
                                   json={"status": "yes"}).status_code == 200, 30,
               "the guest's invitation")
    wait_until(lambda: _answer_seen(organizer, event["event_id"]), 30, "the answer")
    wait_until(lambda: _own_answer_seen(guest, event["event_id"]), 30, "the guest's answer")
    views, shard_map = api.views, api.shard_map
    assert views is not None
    home_of_user = {organizer.id: shard_map.of_user(UUID(organizer.id)),
                    guest.id: shard_map.of_user(UUID(guest.id))}
    assert home_of_user[organizer.id] != home_of_user[guest.id]
    event_home = shard_map.of_event(UUID(event["event_id"]))
    for shard, shard_views in enumerate(views.views):
        entries = shard_views.query("SELECT user_id, rsvp_status FROM cal_entries"
                                    " WHERE event_id = ?", (event["event_id"],))
        expected = {(u, "organizer" if u == organizer.id else "yes")
                    for u, home in home_of_user.items() if home == shard}
        assert set(entries) == expected
        for table in ("cal_events", "cal_guests"):
            rows = shard_views.query(f"SELECT 1 FROM {table} WHERE event_id = ?",
                                     (event["event_id"],))
            assert bool(rows) == (shard == event_home), (table, shard)
        inbox = shard_views.query("SELECT guest_id FROM inbox WHERE event_id = ?",
                                  (event["event_id"],))
        assert inbox == ([(guest.id,)] if shard == home_of_user[guest.id] else [])


def _answer_seen(organizer: ApiUser, event_id: str) -> bool:
    guests = organizer.get(f"/v1/events/{event_id}").json()["guests"]
    return [g["rsvp_status"] for g in guests] == ["yes"]


def _own_answer_seen(guest: ApiUser, event_id: str) -> bool:
    """The guest's own entry (their shard; another projection than the organizer's view
    of the answers, so it may come later)."""
    items = guest.get("/v1/calendar/view", params={"view": "day", "date": "2026-11-24"}).json()
    return [i["rsvp_status"] for i in items["items"] if i["event_id"] == event_id] == ["yes"]
