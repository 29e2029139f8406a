"""Stop `calctl serve` (gracefully and with SIGKILL) and start it again on the same data
dir: nothing acknowledged is lost; `calctl replay` afterwards gives the same views."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CALCTL = [sys.executable, "-m", "infra.cli"]
ROOT = Path(__file__).resolve().parents[2]
# The embedded default: without the distributed settings the test command exports.
EMBEDDED = {k: v for k, v in os.environ.items()
            if k not in ("CALENDAR_SHARDS", "CALENDAR_KAFKA_BOOTSTRAP", "CALENDAR_REDIS_URL")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(data_dir: Path, stop: signal.Signals) -> Iterator[httpx.Client]:
    port = free_port()
    process = subprocess.Popen([*CALCTL, "serve", "--data-dir", str(data_dir),
                                "--port", str(port)], cwd=ROOT, env=EMBEDDED)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_until_up(client, process)
        yield client
    finally:
        client.close()
        process.send_signal(stop)
        process.wait(timeout=30)


def wait_until_up(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "calctl serve exited"
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("calctl serve did not come up")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def views(client: httpx.Client, tokens: list[str]) -> list[Any]:
    found = []
    for token in tokens:
        view = client.get("/v1/calendar/view", headers=auth(token),
                          params={"start": "2026-11-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"})
        inbox = client.get("/v1/invitations", headers=auth(token))
        assert view.status_code == 200 and inbox.status_code == 200
        found.append((view.json()["items"], inbox.json()["items"]))
    return found


def populate(client: httpx.Client) -> list[str]:
    users = [client.post("/v1/users", json={"email": f"d{i}@example.org",
                                            "timezone": "Asia/Kolkata"}).json()
             for i in range(3)]
    organizer = users[0]
    for day in range(1, 8):
        created = client.post("/v1/events", headers=auth(organizer["token"]), json={
            "title": f"day {day}", "start": f"2026-11-{day:02d}T09:00:00Z",
            "end": f"2026-11-{day:02d}T10:00:00Z", "rrule": "FREQ=WEEKLY;COUNT=4",
            "guests": [users[1]["email"], users[2]["email"]]})
        assert created.status_code == 201, created.text
    return [u["token"] for u in users]


def test_restart_and_replay_keep_every_view(tmp_path: Path) -> None:
    with serving(tmp_path, signal.SIGKILL) as client:
        tokens = populate(client)
        time.sleep(1.0)  # let the guests' invitations and views settle before the kill
        before = views(client, tokens)
    assert len(before[1][0]) == 7 * 4 and len(before[1][1]) == 7

    with serving(tmp_path, signal.SIGTERM) as client:
        assert views(client, tokens) == before

    replay = subprocess.run([*CALCTL, "replay", "--data-dir", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=EMBEDDED)
    assert replay.returncode == 0, replay.stderr
    assert "events/s" in replay.stdout

    with serving(tmp_path, signal.SIGTERM) as client:
        assert views(client, tokens) == before
