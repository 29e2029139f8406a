"""Every RRULE example of RFC 5545 §3.8.5.3, through the HTTP API.

The examples live in tests/data/rfc5545_examples.json, transcribed from the RFC with the
instances it lists (local time with the offset of its own EDT/EST labels) and, for the
open-ended rules, the window that holds exactly the listed instances. Each is created as an
event in America/New_York and `GET /v1/events/{id}/instances` must return exactly those
instances, with their instance ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api.client import Api, User

DATA = json.loads((Path(__file__).parent.parent / "data" / "rfc5545_examples.json").read_text())
ZONE = ZoneInfo(DATA["timezone"])
EXAMPLES: list[dict[str, Any]] = DATA["examples"]
LONGEST_WINDOW = timedelta(days=366)  # the instances endpoint's limit


def local(wall: str) -> datetime:
    return datetime.fromisoformat(wall).replace(tzinfo=ZONE)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def label(example: dict[str, Any]) -> str:
    variant = example.get("variant")
    return str(example["name"]) + (f" [{variant}]" if variant else "")


@pytest.fixture(scope="module")
def organizer(api: Api) -> User:
    return api.sign_up(DATA["timezone"])


def create(user: User, example: dict[str, Any]) -> str:
    start = local(example["dtstart"])
    event = user.create_event(
        title=label(example)[:500], start=start.isoformat(),
        end=(start + timedelta(minutes=30)).isoformat(), timezone=DATA["timezone"],
        rrule=example["rrule"], exdates=[local(x).isoformat() for x in example["exdates"]])
    return str(event["event_id"])


def instances(user: User, event_id: str, start: datetime, end: datetime
              ) -> list[dict[str, Any]]:
    """All instances in [start, end), asked for in windows the endpoint accepts."""
    found: dict[str, dict[str, Any]] = {}
    while start < end:
        stop = min(start + LONGEST_WINDOW, end)
        response = user.get(f"/v1/events/{event_id}/instances", params={
            "start": start.isoformat(), "end": stop.isoformat(), "tz": DATA["timezone"]})
        assert response.status_code == 200, response.text
        for item in response.json()["items"]:
            found.setdefault(item["instance_id"], item)
        start = stop
    return sorted(found.values(), key=lambda item: instant(item["start"]))


def test_the_data_file_holds_every_example() -> None:
    # 38 titled examples; four of them give two rules each.
    assert DATA["counts"] == {"titled_examples": 38, "rules": 42}
    assert len(EXAMPLES) == 42
    assert len({label(e) for e in EXAMPLES}) == 42
    assert sum(len(e["expected"]) for e in EXAMPLES) == 774
    assert [e["id"] for e in DATA["errata"]] == [3883]


@pytest.mark.parametrize("example", EXAMPLES, ids=[label(e) for e in EXAMPLES])
def test_rfc_5545_example_through_the_api(organizer: User, example: dict[str, Any]) -> None:
    event_id = create(organizer, example)
    window = example["window"]
    items = instances(organizer, event_id, instant(window["start"]), instant(window["end"]))
    assert [i["start"] for i in items] == example["expected"]
    originals = [instant(x).astimezone(UTC) for x in example["expected"]]
    assert [i["instance_id"] for i in items] == [
        f"{event_id}_{moment:%Y%m%dT%H%M%SZ}" for moment in originals]
    assert all(i["original_start"] == i["start"] for i in items)
    assert all(instant(i["end"]) - instant(i["start"]) == timedelta(minutes=30) for i in items)


def test_the_published_every_3_hours_rule_stops_at_its_utc_until(organizer: User) -> None:
    """Without erratum 3883 the rule's UNTIL (17:00Z, 13:00 EDT) ends it after 12:00."""
    [example] = [e for e in EXAMPLES if "rrule_as_published" in e]
    event_id = create(organizer, {**example, "rrule": example["rrule_as_published"]})
    window = example["window"]
    items = instances(organizer, event_id, instant(window["start"]), instant(window["end"]))
    assert [i["start"] for i in items] == example["expected"][:2]
