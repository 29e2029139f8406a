"""`calctl replay` in the distributed deployment rebuilds the PostgreSQL views and the
Redis masks from the event stores, and gets exactly what the live pipeline (relay,
Kafka, fan-out, projectors) built."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.distributed import distributed
from tests.services.distributed_support import (
    CALCTL,
    ROOT,
    Workload,
    assert_same,
    distributed_settings,
    drop_everything,
    settings_env,
    snapshot,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.services


@pytest.mark.parametrize("splits", [False, True])
def test_calctl_replay_gives_the_views_and_masks_of_the_live_pipeline(
        services: dict[str, str], tmp_path: Path, splits: bool) -> None:
    settings = distributed_settings(services, tmp_path)
    container = distributed(settings, workers=True)
    assert container.workers is not None
    try:
        container.start()
        wait_until(lambda: _ready(container.workers), 90, "workers")
        workload = Workload(container.stores, container.backend.shard_map, seed=4,
                            splits=splits)
        for _ in range(150):
            workload.step()
        wait_settled(container)
        live = snapshot(container.backend)
        assert all(live["views"][f"{i}.{t}"] for i in (0, 1) for t in ("users", "cal_events"))
        assert any(key.startswith("m:") for key in live["redis"])
        assert any(key.startswith("s:") for key in live["redis"])
        container.workers.stop()

        replay = subprocess.run([*CALCTL, "replay"], cwd=ROOT, env=settings_env(settings),
                                capture_output=True, text=True, timeout=300)
        assert replay.returncode == 0, replay.stderr
        assert "events/s" in replay.stdout
        written = sum(len(s.recorder.select_notifications(1, 10**6))
                      for s in container.backend.shards)
        assert f"replayed {written} events" in replay.stdout, replay.stdout

        assert_same(snapshot(container.backend), live)
    finally:
        container.close()
        drop_everything(settings)


def _ready(workers: object) -> bool:
    try:
        workers.check_ready()  # type: ignore[attr-defined]
    except RuntimeError:
        return False
    return True
