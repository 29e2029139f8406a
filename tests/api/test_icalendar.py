"""iCalendar export and import (RFC 5545). The exported file, expanded by another
implementation (recurring_ical_events), gives the same instances as the API's views; an
import of it reproduces the calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import recurring_ical_events
from icalendar import Calendar

from tests.api.client import Api, User

WINDOW = {"start": "2026-10-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}


def populate(user: User) -> None:
    weekly = user.create_event(
        title="Weekly", start="2026-10-05T09:00:00-04:00", end="2026-10-05T10:00:00-04:00",
        timezone="America/New_York", rrule="FREQ=WEEKLY;BYDAY=MO;UNTIL=20261215T000000Z",
        exdates=["2026-10-12T09:00:00-04:00"], rdates=["2026-10-21T15:00:00-04:00"])
    moved = user.patch(f"/v1/events/{weekly['event_id']}_20261019T130000Z",
                       json={"version": 1, "title": "Moved", "start": "2026-10-20T11:00:00-04:00",
                             "end": "2026-10-20T12:00:00-04:00"})
    assert moved.status_code == 200, moved.text
    cancelled = user.delete(f"/v1/events/{weekly['event_id']}_20261102T140000Z")
    assert cancelled.status_code == 204
    user.create_event(title="Holiday", start="2026-12-24", end="2026-12-26", all_day=True,
                      timezone="Europe/Berlin")
    user.create_event(title="Daily", start="2026-11-02T08:00:00+05:30",
                      end="2026-11-02T08:15:00+05:30", timezone="Asia/Kolkata",
                      rrule="FREQ=DAILY;COUNT=5")


def api_instances(user: User) -> set[tuple[str, str, str]]:
    items = user.get("/v1/calendar/view", params=WINDOW).json()["items"]
    return {(i["title"], i["start"], i["end"]) for i in items}


def render(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value.isoformat())


def file_instances(text: bytes) -> set[tuple[str, str, str]]:
    calendar = Calendar.from_ical(text)
    found = recurring_ical_events.of(calendar).between(datetime(2026, 10, 1, tzinfo=UTC),
                                                       datetime(2027, 1, 1, tzinfo=UTC))
    return {(str(e["SUMMARY"]), render(e["DTSTART"].dt), render(e["DTEND"].dt)) for e in found}


def test_export_expands_elsewhere_to_the_same_instances(api: Api) -> None:
    alice = api.sign_up("America/New_York")
    populate(alice)
    response = alice.get("/v1/calendar.ics", params=WINDOW)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VTIMEZONE" in response.content and b"RECURRENCE-ID" in response.content
    expected = api_instances(alice)
    # 11 Mondays, less an EXDATE and a cancelled one, plus an RDATE; 5 daily; 1 all-day.
    assert len(expected) == 11 - 2 + 1 + 5 + 1
    assert file_instances(response.content) == expected


def test_import_of_an_export_reproduces_the_calendar(api: Api) -> None:
    alice, bob = api.sign_up("America/New_York"), api.sign_up("Europe/Paris")
    populate(alice)
    exported = alice.get("/v1/calendar.ics", params=WINDOW).content
    imported = bob.post("/v1/calendar/import", content=exported,
                        headers={"Content-Type": "text/calendar"})
    assert imported.status_code == 201, imported.text
    assert imported.json()["imported"] == 3
    assert api_instances(bob) == api_instances(alice)


def test_bad_calendar_files_are_refused_and_change_nothing(api: Api) -> None:
    carol = api.sign_up("UTC")
    garbage = carol.post("/v1/calendar/import", content=b"not a calendar",
                         headers={"Content-Type": "text/calendar"})
    assert garbage.status_code == 422
    wrong_type = carol.post("/v1/calendar/import", content=b"BEGIN:VCALENDAR",
                            headers={"Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    assert api_instances(carol) == set()
