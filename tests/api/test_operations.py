"""GET /healthz, /readyz and /metrics on the embedded default, over real HTTP."""

from __future__ import annotations

import re

from tests.api.client import Api

NAME = "calendar_http_request_duration_seconds"


def count(text: str, method: str, route: str, status: int) -> int:
    found = re.search(rf'^{NAME}_count{{method="{method}",route="{re.escape(route)}",'
                      rf'status="{status}"}} (\d+)$', text, re.M)
    return int(found.group(1)) if found else 0


def test_health_and_readiness(api: Api) -> None:
    assert api.http.get("/healthz").json() == {"status": "ok"}
    ready = api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_metrics_count_requests_by_route_template_and_status(api: Api) -> None:
    alice = api.sign_up("UTC")
    before = api.http.get("/metrics").text
    event = alice.create_event(title="Counted")
    for _ in range(3):
        assert alice.get(f"/v1/events/{event['event_id']}").status_code == 200
    assert alice.get("/v1/events/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.http.get("/no/such/path").status_code == 404
    after = api.http.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    route = "/v1/events/{event_id}"
    assert count(text, "GET", route, 200) - count(before, "GET", route, 200) == 3
    assert count(text, "GET", route, 404) - count(before, "GET", route, 404) == 1
    assert count(text, "POST", "/v1/events", 201) - count(before, "POST", "/v1/events", 201) == 1
    assert count(text, "GET", "unmatched", 404) >= 1
    assert f"# TYPE {NAME} histogram" in text
    assert re.search(rf'^{NAME}_bucket{{method="GET",route="{re.escape(route)}",'
                     rf'status="200",le="\+Inf"}} \d+$', text, re.M)
    assert "calendar_projection_lag" in text
