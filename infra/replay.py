"""`calctl replay` in the distributed deployment: empty the chosen projections and feed
every shard's notification log through the sinks the Kafka consumers use (PostgreSQL
views, Redis free/busy), with the partition the relay would have used for each
notification, so the rows and the tracking left behind are what the live pipeline would
have left: projectors started afterwards skip what the replay applied.

Projections are independent (own tables, own tracking rows, own Redis keys), so they are
replayed side by side in processes forked before the parent holds any connection or
thread: free/busy on Redis in one, the PostgreSQL projections in the others (as many as
cores are left, at least one). Each process reads the logs itself, REPLAY_BATCH
notifications at a time, a batch ahead of its sinks, and every sink gets the whole batch
(one PostgreSQL transaction per views database, one Redis script call). Notifications
no sink of the process reads (SelectiveSink.wants) are not decoded: the sinks still get
their positions, to track."""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any
from uuid import UUID

from infra.distributed import Backend
from infra.kafka_consumer import Delivery, SelectiveSink, Sink
from infra.kafka_relay import partition_of
from infra.postgres_views import PostgresProjector
from infra.settings import Settings

REPLAY_BATCH = 2000
Progress = Callable[[int], None]


def replay(settings: Settings, names: Sequence[str], only: int | None,
           progress: Progress, backend: Backend | None = None) -> int:
    """Replay the projections `names` (every shard's log, or shard `only`'s after
    emptying everything) in several processes; the number of notifications replayed.
    `progress` hears how many more notifications every projection has passed. Forking
    needs a process without other threads (no open Backend, whose pools run threads):
    otherwise the projections are replayed here, one after another, through `backend`
    if given."""
    groups = _groups(settings, names)
    if len(groups) > 1 and threading.active_count() == 1:
        return _in_processes(settings, groups, only, progress)
    own = backend or Backend(settings)
    try:
        return replay_here(own, names, only, progress)
    finally:
        if backend is None:
            own.close()


def _groups(settings: Settings, names: Sequence[str]) -> list[list[str]]:
    """Which projections share a process: free/busy on Redis alone, the PostgreSQL
    projections split over the remaining cores (at least one process). Sharing a process
    shares reading and decoding the logs, which every PostgreSQL projection needs in
    full; on 2 cores, 2 processes beat one per projection."""
    redis = [n for n in names if n == "freebusy" and settings.redis_url]
    postgres = [n for n in names if n not in redis]
    count = max(1, min(len(postgres), (os.cpu_count() or 1) - len(redis)))
    return ([redis] if redis else []) + [g for g in (postgres[i::count] for i in range(count))
                                        if g]


def replay_here(backend: Backend, names: Sequence[str], only: int | None,
                progress: Progress) -> int:
    """Replay `names` in this process, through `backend`'s sinks. A thread reads and
    decodes the next batch while the sinks apply this one (they mostly wait for
    PostgreSQL or Redis then)."""
    sinks = [PostgresProjector(s.projection, backend.views, "REPEATABLE READ")
             if isinstance(s, PostgresProjector) else s for s in backend.projectors(names)]
    for sink in sinks:
        sink.reset()
    total = 0
    with _Prefetch(backend, only, _decoding(sinks)) as batches:
        for batch in batches:
            for sink in sinks:
                sink.handle(batch)
            total += len(batch)
            progress(len(batch))
    return total


class _Prefetch:
    """Every chosen shard's deliveries, batch by batch, read ahead by one thread."""

    def __init__(self, backend: Backend, only: int | None,
                 decoded: Callable[[str], bool]) -> None:
        self.backend = backend
        self.shards = [s.index for s in backend.shards if only in (None, s.index)]
        self.decoded = decoded
        self.ready: queue.Queue[list[Delivery] | BaseException | None] = queue.Queue(2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, name="replay-reader", daemon=True)

    def __enter__(self) -> Iterator[list[Delivery]]:
        self.thread.start()
        return self._batches()

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()

    def _batches(self) -> Iterator[list[Delivery]]:
        while (batch := self.ready.get()) is not None:
            if isinstance(batch, BaseException):
                raise batch
            yield batch

    def _read(self) -> None:
        try:
            for shard in self.shards:
                position = 0
                while not self.stop.is_set() and (
                        batch := _deliveries(self.backend, shard, position, self.decoded)):
                    self._put(batch)
                    position = batch[-1].notification_id
            self._put(None)
        except BaseException as error:
            self._put(error)

    def _put(self, item: list[Delivery] | BaseException | None) -> None:
        while not self.stop.is_set():
            try:
                self.ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


def _decoding(sinks: Sequence[Sink]) -> Callable[[str], bool]:
    """Whether some sink reads the events of a topic (SelectiveSink.wants; other sinks
    read every one)."""

    @cache
    def read(topic: str) -> bool:
        return any(not isinstance(s, SelectiveSink) or s.wants(topic) for s in sinks)

    return read


def _deliveries(backend: Backend, shard_index: int, after: int,
                decoded: Callable[[str], bool]) -> list[Delivery]:
    """The next notifications of a shard as the consumers would receive them; those no
    sink reads carry no event (None)."""
    shard = backend.shards[shard_index]
    found = shard.recorder.select_notifications(after, REPLAY_BATCH, inclusive_of_start=False)
    partitions = backend.settings.kafka_partitions
    return [Delivery(shard.index, n.id, partition_of(UUID(str(n.originator_id)), partitions),
                     shard.mapper.to_domain_event(n) if decoded(n.topic) else None)
            for n in found]


# -- several processes ---------------------------------------------------------------------


def _in_processes(settings: Settings, groups: list[list[str]], only: int | None,
                  progress: Progress) -> int:
    context = multiprocessing.get_context("fork")
    messages: Any = context.Queue()
    connecting = context.Lock()
    workers = [context.Process(target=_worker,
                               args=(settings, group, only, i, messages, connecting),
                               name=f"replay-{'+'.join(group)}", daemon=True)
               for i, group in enumerate(groups)]
    for worker in workers:
        worker.start()
    passed, reported = [0] * len(groups), 0
    counts: dict[int, int] = {}
    failures: dict[int, str] = {}
    finished = False
    try:
        while len(counts) + len(failures) < len(groups):
            try:
                kind, index, value = messages.get(timeout=1.0)
            except queue.Empty:
                failures.update({i: f"exited with code {w.exitcode}"
                                 for i, w in enumerate(workers) if w.exitcode not in (None, 0)
                                 and i not in counts and i not in failures})
                continue
            if kind == "progress":
                passed[index] += value
                if min(passed) > reported:
                    progress(min(passed) - reported)
                    reported = min(passed)
            elif kind == "done":
                counts[index] = value
            else:
                failures[index] = value
        finished = True
    finally:
        for worker in workers:
            if not finished:  # interrupted: do not leave them running
                worker.terminate()
            worker.join()
    if failures:
        raise RuntimeError("replay failed: " + "\n".join(
            f"{'+'.join(groups[i])}: {text}" for i, text in sorted(failures.items())))
    count = max(counts.values())
    if count > reported:
        progress(count - reported)
    return count


def _worker(settings: Settings, names: list[str], only: int | None, index: int,
            messages: Any, connecting: Any) -> None:
    try:
        with connecting:  # the event store's CREATE TABLE IF NOT EXISTS races with itself
            backend = Backend(settings)
        try:
            count = replay_here(backend, names, only,
                                lambda n: messages.put(("progress", index, n)))
        finally:
            backend.close()
        messages.put(("done", index, count))
    except BaseException:
        messages.put(("error", index, traceback.format_exc()))
