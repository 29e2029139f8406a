"""`calctl serve --workers --processes 2`: two API processes on one port behind the
kernel's accept queue, with the relay, fan-out and projectors in the supervisor. Every
request opens a new connection, so consecutive requests of one user land on either
process: read-your-own-writes and idempotency keys must hold across them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services.distributed_support import (
    ROOT,
    Worker,
    distributed_settings,
    drop_everything,
    settings_env,
    wait_until,
    workers,
)

pytestmark = pytest.mark.services


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(services: dict[str, str], tmp_path: Path) -> Iterator[str]:
    settings = distributed_settings(services, tmp_path)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", "--workers", "--processes", "2",
         "--port", str(port)], cwd=ROOT, env=settings_env(settings), stdout=log,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), 90, "both API processes")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
        drop_everything(settings)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def call(method: str, url: str, **kwargs: object) -> httpx.Response:
    """A fresh connection per request: the kernel picks the process."""
    with httpx.Client(timeout=30) as client:
        return client.request(method, url, **kwargs)  # type: ignore[arg-type]


def test_every_write_is_read_back_whichever_process_serves_the_read(server: str) -> None:
    signed = call("POST", server + "/v1/users",
                  json={"email": f"p{time.time_ns()}@example.org", "timezone": "UTC"})
    assert signed.status_code == 201, signed.text
    auth = {"Authorization": f"Bearer {signed.json()['token']}"}
    titles = []
    for hour in range(12):
        title = f"Slot {hour}"
        created = call("POST", server + "/v1/events", headers=auth, json={
            "title": title, "start": f"2026-11-24T{hour:02d}:00:00Z",
            "end": f"2026-11-24T{hour:02d}:30:00Z"})
        assert created.status_code == 201, created.text
        titles.append(title)
        view = call("GET", server + "/v1/calendar/view", headers=auth,
                    params={"view": "day", "date": "2026-11-24"})
        assert [i["title"] for i in view.json()["items"]] == titles


def test_an_idempotent_retry_on_another_connection_replays_the_first_answer(
        server: str) -> None:
    signed = call("POST", server + "/v1/users",
                  json={"email": f"q{time.time_ns()}@example.org", "timezone": "UTC"})
    headers = {"Authorization": f"Bearer {signed.json()['token']}",
               "Idempotency-Key": "one-meeting"}
    body = {"title": "Once", "start": "2026-11-25T09:00:00Z", "end": "2026-11-25T10:00:00Z"}
    answers = [call("POST", server + "/v1/events", headers=headers, json=body)
               for _ in range(6)]
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["event_id"] for a in answers}) == 1


def test_the_embedded_default_refuses_several_processes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALENDAR_")}
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "serve", "--processes", "2", "--data-dir",
         str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "needs the distributed deployment" in done.stderr


def test_workers_starting_together_on_empty_databases_all_come_up(
        services: dict[str, str], tmp_path: Path) -> None:
    """Each creates the tables it needs; the DDL lock makes them take turns (without it,
    one of them could die with "tuple concurrently updated")."""
    settings = distributed_settings(services, tmp_path)
    env = settings_env(settings)
    names = ["relay", "fanout", "projector", "relay", "projector"]
    started = [Worker([name], env, tmp_path / f"{i}-{name}.log")
               for i, name in enumerate(names)]
    try:
        with workers(*started):
            wait_until(lambda: all("started:" in w.log.read_text() for w in started), 60,
                       "every worker to report it started")
            time.sleep(2)
            assert all(w.alive() for w in started), [
                w.log.read_text()[-2000:] for w in started if not w.alive()]
    finally:
        drop_everything(settings)
