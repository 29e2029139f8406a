"""Exactly-once effects through crashes: the relay, the projector and the fan-out run as
separate `calctl` processes and are killed with SIGKILL at random moments (and started
again) while commands run. Afterwards every view row, inbox entry, busy bit and
tracking position equals a replay of the event stores into fresh views, each event's
free/busy state was changed exactly as often as it has events, and every guest's
invitation reflects the event's last version."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from uuid import UUID

import pytest

from commands import handlers
from commands.service import CalendarStores, NotFoundError
from domain.invitation import Invitation
from infra.distributed import PROJECTIONS, Backend, distributed, replay
from tests.services.distributed_support import (
    Worker,
    Workload,
    assert_same,
    distributed_settings,
    drop_everything,
    settings_env,
    snapshot,
    wait_settled,
    workers,
)

pytestmark = pytest.mark.services
SEED = 20261124
COMMAND_SECONDS = 25.0


class Chaos(threading.Thread):
    """Kills a random worker every 0.3-2 s and starts it again shortly after."""

    def __init__(self, victims: list[Worker], rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.victims = victims
        self.rng = rng
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.rng.uniform(0.3, 2.0)):
            victim = self.rng.choice(self.victims)
            victim.kill()
            time.sleep(self.rng.uniform(0.0, 0.5))
            victim.start()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)
        for victim in self.victims:
            if not victim.alive():
                victim.start()


@pytest.mark.parametrize(("replicas", "freebusy"), [
    (1, "redis"), (2, "redis"), (2, "postgres")])
def test_killed_workers_leave_views_equal_to_a_replay(
        services: dict[str, str], tmp_path: Path, replicas: int, freebusy: str) -> None:
    """With two replicas of each worker, partitions are shared between two consumers of
    each group (concurrent transactions on one event's rows, the Redis script's
    optimistic check) and a second relay per shard waits on the first one's lock."""
    settings = distributed_settings(services, tmp_path)
    if freebusy == "postgres":
        settings.redis_url = ""
    container = distributed(settings)
    env = settings_env(settings)
    running = {name: [Worker([name], {**env, "CALENDAR_WORKER_ID": f"{name}-{i}"},
                             tmp_path / f"{name}-{i}.log") for i in range(replicas)]
               for name in ("relay", "projector", "fanout")}
    everyone = [w for replicas_of in running.values() for w in replicas_of]
    check = settings.model_copy(update={"views_schema": settings.views_schema + "_check",
                                        "redis_prefix": settings.redis_prefix + "check:"})
    try:
        with workers(*everyone):
            chaos = Chaos(everyone, random.Random(SEED))
            chaos.start()
            workload = Workload(container.stores, container.backend.shard_map, SEED)
            deadline = time.monotonic() + COMMAND_SECONDS
            while time.monotonic() < deadline:
                workload.step()
            chaos.stop()
            wait_settled(container, timeout=180, diagnose=lambda: _logs(tmp_path))
            live = snapshot(container.backend)
        kills = {name: sum(w.kills for w in ws) for name, ws in running.items()}
        assert min(kills.values()) >= 2, kills

        fresh = Backend(check)
        replay(fresh, PROJECTIONS, None, lambda _: None)
        assert_same(snapshot(fresh), live)
        fresh.close()
        assert_invitations_follow_their_events(container.stores, workload)
    finally:
        container.close()
        drop_everything(settings)
        drop_everything(check)


def assert_invitations_follow_their_events(stores: CalendarStores, workload: Workload) -> None:
    """The fan-out finished despite the kills: every current guest's invitation is at
    the event's last version, active unless the event was cancelled."""
    for event_id in workload.events:
        event = handlers.load_event(stores, event_id)
        for guest in map(UUID, event.guests):
            invitation_id = Invitation.create_id(event_id, guest)
            try:
                invitation = stores.load(stores.user_shard(guest), invitation_id, Invitation)
            except NotFoundError:
                raise AssertionError(f"no invitation for {guest} to {event_id}") from None
            assert invitation.event_version == event.version, (
                event_id, guest, invitation.created_on, event.created_on, event.modified_on)
            assert invitation.active is not event.cancelled


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in tmp_path.glob("*.log"))
