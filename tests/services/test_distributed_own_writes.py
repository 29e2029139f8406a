"""Read-your-own-writes in the distributed deployment, with the projectors stopped.

The relay and the fan-out keep running; only the projectors stop. A read by the author
of a write waits until the projectors it uses have applied that write (in the write's
Kafka partition); when they do not within CALENDAR_RYOW_TIMEOUT_SECONDS the read
loads the author's newer events from the event store and overlays them on the views
(GET /v1/events/{id}, its instances and the calendar view; other views answer as they
are)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.app import create_app
from infra.distributed import PROJECTIONS, DistributedContainer, Workers, distributed
from tests.api.client import Api, ServerThread
from tests.services.distributed_support import (
    distributed_settings,
    drop_everything,
)

pytestmark = pytest.mark.services
PROJECTORS_LATE_BY = 1.5


@pytest.fixture
def container(services: dict[str, str], tmp_path: Path) -> Iterator[DistributedContainer]:
    settings = distributed_settings(services, tmp_path, ryow_timeout_seconds=15)
    built = distributed(settings)
    plumbing = Workers.of(built.backend, relay=True, fanout=True)
    plumbing.start()
    try:
        yield built
    finally:
        plumbing.stop()
        built.close()
        drop_everything(settings)


def projectors(container: DistributedContainer) -> Workers:
    return Workers.of(container.backend, relay=False, fanout=False, projections=PROJECTIONS)


def test_a_read_waits_for_the_stopped_projectors_to_apply_the_readers_write(
        container: DistributedContainer) -> None:
    late = projectors(container)
    with ServerThread(create_app(container, start_delivery=False)) as url, Api(url) as api:
        alice = api.sign_up("UTC")
        bob = api.sign_up("UTC")
        event = alice.create_event(title="Planning", guests=[bob.email])
        starter = threading.Timer(PROJECTORS_LATE_BY, late.start)
        starter.start()
        try:
            started = time.monotonic()
            read = alice.get(f"/v1/events/{event['event_id']}")
            waited = time.monotonic() - started
            assert read.status_code == 200, read.text
            assert read.json()["title"] == "Planning"
            assert waited >= PROJECTORS_LATE_BY - 0.1
            week = alice.get("/v1/calendar/view", params={"view": "week", "date": "2026-11-24"})
            assert [i["title"] for i in week.json()["items"]] == ["Planning"]
        finally:
            starter.join()
            late.stop()


def test_without_projectors_the_read_falls_back_to_the_event_store(
        container: DistributedContainer) -> None:
    running = projectors(container)
    running.start()
    with ServerThread(create_app(container, start_delivery=False)) as url, Api(url) as api:
        alice = api.sign_up("UTC")
        event = alice.create_event(title="Before")
        path = f"/v1/events/{event['event_id']}"
        assert alice.get(path).json()["title"] == "Before"
        # The view also reads Alice's profile: let the users projection have it first.
        week_view = {"view": "week", "date": "2026-11-24"}
        assert alice.get("/v1/calendar/view", params=week_view).status_code == 200
        running.stop()

        assert alice.patch(path, json={"version": 1, "title": "After"}).status_code == 200
        container.own_writes.timeout = 0.5
        started = time.monotonic()
        fallback = alice.get(path)
        waited = time.monotonic() - started
        assert fallback.status_code == 200
        assert fallback.json()["title"] == "After"  # from the event store
        assert fallback.json()["version"] == 2
        assert 0.5 <= waited < 5
        week = alice.get("/v1/calendar/view", params={"view": "week", "date": "2026-11-24"})
        assert [i["title"] for i in week.json()["items"]] == ["After"]
        listed = alice.get(path + "/instances", params={"start": "2026-11-23T00:00:00Z",
                                                        "end": "2026-11-30T00:00:00Z"})
        assert [i["title"] for i in listed.json()["items"]] == ["After"]

        container.own_writes.timeout = 15
        resumed = projectors(container)
        resumed.start()
        try:
            assert alice.get(path).json()["title"] == "After"
        finally:
            resumed.stop()


def test_with_projectors_never_started_the_author_sees_their_new_event(
        container: DistributedContainer) -> None:
    running = projectors(container)
    running.start()
    with ServerThread(create_app(container, start_delivery=False)) as url, Api(url) as api:
        try:
            alice = api.sign_up("UTC")
            bob = api.sign_up("UTC")
            week = {"view": "week", "date": "2026-11-24"}
            assert alice.get("/v1/calendar/view", params=week).json()["items"] == []
            assert bob.get("/v1/calendar/view", params=week).json()["items"] == []
        finally:
            running.stop()  # the users are in the views; no event will ever be projected
        container.own_writes.timeout = 0.5

        kept = alice.create_event(title="Kept")
        gone = alice.create_event(title="Gone", guests=[bob.email])
        assert alice.delete(f"/v1/events/{gone['event_id']}",
                            headers={"If-Match": '"1"'}).status_code == 204

        read = alice.get(f"/v1/events/{kept['event_id']}")
        assert read.status_code == 200, read.text
        assert read.json()["title"] == "Kept"
        assert alice.get(f"/v1/events/{gone['event_id']}").json()["status"] == "cancelled"
        items = alice.get("/v1/calendar/view", params=week).json()["items"]
        assert [i["title"] for i in items] == ["Kept"]
        assert items[0]["rsvp_status"] == "organizer"

        # Only the author reads their writes: a guest sees the views as they are.
        assert bob.get(f"/v1/events/{gone['event_id']}").status_code == 404


def test_any_api_instance_serves_the_authors_next_read_and_idempotent_retry(
        container: DistributedContainer, tmp_path: Path) -> None:
    """Write positions and idempotency keys live in PostgreSQL, not in the API process:
    a second instance (as behind a load balancer) waits for, or falls back to, a write
    the first one took, and replays its stored response to a retry."""
    running = projectors(container)
    running.start()
    # Another machine: nothing shared with the first instance but the services.
    other = distributed(container.settings.model_copy(update={"data_dir": tmp_path / "b"}))
    try:
        with ServerThread(create_app(container, start_delivery=False)) as url_a, \
                ServerThread(create_app(other, start_delivery=False)) as url_b, \
                Api(url_a) as api_a, Api(url_b) as api_b:
            alice = api_a.sign_up("UTC")
            week = {"view": "week", "date": "2026-11-24"}
            assert alice.get("/v1/calendar/view", params=week).status_code == 200
            running.stop()
            other.own_writes.timeout = 0.5

            body = {"title": "Once", "start": "2026-11-24T09:00:00Z",
                    "end": "2026-11-24T10:00:00Z"}
            retry = {**alice.headers, "Idempotency-Key": "create-once"}
            first = api_a.http.post("/v1/events", json=body, headers=retry)
            again = api_b.http.post("/v1/events", json=body, headers=retry)
            assert first.status_code == again.status_code == 201
            assert again.json()["event_id"] == first.json()["event_id"]

            on_b = api_b.http.get("/v1/calendar/view", params=week, headers=alice.headers)
            assert [i["title"] for i in on_b.json()["items"]] == ["Once"]
            event_on_b = api_b.http.get(f"/v1/events/{first.json()['event_id']}",
                                        headers=alice.headers)
            assert event_on_b.status_code == 200, event_on_b.text
    finally:
        other.close()


def test_a_user_who_signed_up_while_projectors_were_stopped_sees_their_calendar(
        container: DistributedContainer) -> None:
    """The view needs the reader's zone and week start from the users projection; until
    it has the sign-up, the reader's own profile comes from the event store."""
    container.own_writes.timeout = 0.3
    with ServerThread(create_app(container, start_delivery=False)) as url, Api(url) as api:
        carol = api.sign_up("Asia/Tokyo")
        event = carol.create_event(title="First", start="2026-11-25T01:00:00Z",
                                   end="2026-11-25T02:00:00Z")
        view = carol.get("/v1/calendar/view", params={"view": "day", "date": "2026-11-25"})
        assert view.status_code == 200, view.text
        assert view.json()["timezone"] == "Asia/Tokyo"
        assert [i["event_id"] for i in view.json()["items"]] == [event["event_id"]]
        stranger = api.sign_up("UTC")
        seen = stranger.post("/v1/availability", json={
            "user_ids": [carol.id], "start": "2026-11-25T00:00:00Z",
            "end": "2026-11-26T00:00:00Z"})
        assert seen.status_code == 422  # others learn of Carol once the views have her
