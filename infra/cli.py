"""`calctl`: serve, users create, replay, the distributed workers (relay, fanout,
projector), and infra up/down for local services."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from infra.settings import Settings

if TYPE_CHECKING:
    from infra.app import Runtime


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.run(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calctl", description="Calendar backend")
    commands = parser.add_subparsers(required=True)
    serve = commands.add_parser("serve", help="run the API (distributed if CALENDAR_SHARDS)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data-dir", type=Path)
    serve.add_argument("--workers", action="store_true",
                       help="distributed: also run relay, fan-out and projectors here")
    serve.add_argument("--processes", type=int, default=1,
                       help="distributed: API processes sharing the port (default 1)")
    serve.set_defaults(run=_serve)
    relay = commands.add_parser("relay", help="publish the shards' logs to Kafka")
    relay.add_argument("--shard", type=int)
    relay.set_defaults(run=_relay)
    fanout = commands.add_parser("fanout", help="keep guests' invitations in step (Kafka)")
    fanout.set_defaults(run=_fanout)
    projector = commands.add_parser("projector", help="keep the views up to date (Kafka)")
    projector.add_argument("--projection", default="all")
    projector.set_defaults(run=_projector)
    users = commands.add_parser("users").add_subparsers(required=True)
    create = users.add_parser("create", help="create a user; prints id and token")
    create.add_argument("--email", required=True)
    create.add_argument("--timezone", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--data-dir", type=Path)
    create.set_defaults(run=_create_user)
    replay = commands.add_parser("replay", help="rebuild projections from the event stores")
    replay.add_argument("--projection", default="all")
    replay.add_argument("--shard", type=int)
    replay.add_argument("--data-dir", type=Path)
    replay.set_defaults(run=_replay)
    infra = commands.add_parser("infra", help="local PostgreSQL, Redis and Kafka").add_subparsers(
        required=True)
    for name, run in (("up", _infra_up), ("down", _infra_down)):
        sub = infra.add_parser(name)
        sub.add_argument("--dir", type=Path, default=Path(".services"))
        sub.set_defaults(run=run)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if getattr(args, "data_dir", None):
        settings.data_dir = args.data_dir
    return settings


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from infra.app import create_app

    settings = _settings(args)
    if args.processes > 1:
        _serve_processes(args, settings)
        return
    if settings.is_distributed:
        from infra.distributed import distributed

        container: Runtime = distributed(settings, workers=args.workers)
        where = f"{len(settings.shards.split(','))} PostgreSQL shards"
    else:
        from infra.bootstrap import embedded

        container = embedded(settings)
        where = f"data in {settings.data_dir}"
    print(f"calendar API on http://{args.host}:{args.port} ({where})")
    uvicorn.run(create_app(container), host=args.host, port=args.port, log_level="warning")


def _serve_processes(args: argparse.Namespace, settings: Settings) -> None:
    """Several API processes on one port (uvicorn's supervisor; each process builds its
    own container from the environment). With --workers, the relay, fan-out and
    projectors run once, in this supervising process. Only the distributed deployment:
    read-your-own-writes positions and idempotency keys are shared through PostgreSQL
    there, while the embedded default keeps them (and its delivery) in its process."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from infra.auth import load_or_create_secret
    from infra.distributed import PROJECTIONS, Backend, Workers

    if not settings.is_distributed:
        raise SystemExit("calctl serve --processes needs the distributed deployment"
                         " (CALENDAR_SHARDS); the embedded default runs in one process")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CALENDAR_DATA_DIR"] = str(settings.data_dir)
    if not settings.secret:  # one secret for every process, created before they start
        os.environ["CALENDAR_SECRET"] = load_or_create_secret(settings.data_dir)
    backend = Backend(settings) if args.workers else None
    workers = Workers.of(backend, projections=PROJECTIONS) if backend else None
    if workers is not None:
        workers.start()
    print(f"calendar API on http://{args.host}:{args.port} ({args.processes} processes"
          f"{', workers in the supervisor' if workers else ''})")
    config = uvicorn.Config("infra.app:app_from_environment", factory=True,
                            workers=args.processes, host=args.host, port=args.port,
                            log_level="warning")
    try:
        Multiprocess(config, sockets=[_tcp_listener(args.host, args.port)]).run()
    finally:
        if workers is not None and backend is not None:
            workers.stop()
            backend.close()


def _tcp_listener(host: str, port: int) -> socket.socket:
    """The shared listening socket, made with IPPROTO_TCP: uvicorn's own (proto 0)
    makes asyncio skip TCP_NODELAY on accepted connections, and every keep-alive request
    then waits ~40 ms for a delayed ACK (uvicorn issue #3149)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.set_inheritable(True)
    return listener


def _container(settings: Settings) -> Runtime:
    if settings.is_distributed:
        from infra.distributed import distributed

        return distributed(settings)
    from infra.bootstrap import embedded

    return embedded(settings)


def _create_user(args: argparse.Namespace) -> int:
    from commands.handlers import EmailTakenError, sign_up
    from commands.models import SignUp

    container = _container(_settings(args))
    try:
        user = sign_up(container.stores, SignUp(email=args.email, timezone=args.timezone,
                                                name=args.name))
    except EmailTakenError:
        print(f"a user with e-mail {args.email} already exists", file=sys.stderr)
        return 1
    finally:
        container.close()
    print(f"user_id={user.id}")
    print(f"token={container.tokens.issue(user.id, datetime.now(UTC))}")
    return 0


def _chosen(projection: str) -> list[str] | None:
    from infra.bootstrap import all_projections

    names = [p.name for p in all_projections()]
    if projection == "all" or projection in names:
        return [n for n in names if projection in ("all", n)]
    print(f"unknown projection {projection!r}; choose from: {', '.join(names)}",
          file=sys.stderr)
    return None


def _replay(args: argparse.Namespace) -> int:
    from infra.bootstrap import all_projections, embedded
    from infra.delivery import InProcessDelivery

    names = _chosen(args.projection)
    if names is None:
        return 2
    settings = _settings(args)
    if settings.is_distributed:
        return _replay_distributed(settings, names, args.shard)
    container = embedded(settings)
    chosen = [p for p in all_projections() if p.name in names]
    shards = [s for s in container.stores.shards if args.shard in (None, s.index)]
    total = sum(s.recorder.max_notification_id() or 0 for s in shards)
    replayer = InProcessDelivery(shards, container.views, chosen, fanout=None)
    started = time.monotonic()
    count = replayer.rebuild(ProgressBar(total).advance)
    _report(count, names, started)
    container.close()
    return 0


def _replay_distributed(settings: Settings, names: list[str], shard: int | None) -> int:
    """Rebuild the PostgreSQL views and Redis masks straight from the event stores, in
    several processes (infra/replay.py). Run it while the projectors are stopped; they
    resume after the replayed positions."""
    from infra.distributed import Backend
    from infra.replay import replay

    backend = Backend(settings)  # creates what is missing; closed before the fork
    total = sum(s.recorder.max_notification_id() or 0 for s in backend.shards
                if shard in (None, s.index))
    backend.close()
    started = time.monotonic()
    count = replay(settings, names, shard, ProgressBar(total).advance)
    _report(count, names, started)
    return 0


def _report(count: int, names: list[str], started: float) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    print(f"\nreplayed {count} events into {', '.join(names)} "
          f"in {elapsed:.2f} s ({count / elapsed:,.0f} events/s)")


def _relay(args: argparse.Namespace) -> int:
    return _work(args, relay=True, shard=args.shard)


def _fanout(args: argparse.Namespace) -> int:
    return _work(args, fanout=True)


def _projector(args: argparse.Namespace) -> int:
    names = _chosen(args.projection)
    return 2 if names is None else _work(args, projections=names)


def _work(args: argparse.Namespace, relay: bool = False, fanout: bool = False,
          projections: list[str] | None = None, shard: int | None = None) -> int:
    """Run distributed workers until SIGTERM or SIGINT."""
    import logging
    import signal
    import threading

    from infra.distributed import Backend, Workers

    settings = _settings(args)
    if not settings.is_distributed:
        print("workers need CALENDAR_SHARDS (and Kafka, Redis)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")
    backend = Backend(settings)
    workers = Workers.of(backend, relay=relay, fanout=fanout, projections=projections,
                         shard=shard)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    workers.start()
    print("started: " + ", ".join(t.name for t in workers.threads), flush=True)
    while not stopped.wait(1.0):
        if not workers.alive():
            print("a worker thread died", file=sys.stderr)
            break
    workers.stop()
    backend.close()
    return 0 if stopped.is_set() else 1


class ProgressBar:
    """Redrawn only when it grows a step, so a log file gets 40 lines, not thousands."""

    def __init__(self, total: int, width: int = 40) -> None:
        self.total, self.width, self.done, self.drawn = total, width, 0, -1

    def advance(self, delivered: int) -> None:
        self.done += delivered
        filled = self.width if self.total == 0 else min(
            self.width, self.width * self.done // self.total)
        if filled != self.drawn:
            self.drawn = filled
            bar = "#" * filled + "." * (self.width - filled)
            sys.stdout.write(f"\r[{bar}] {self.done}/{self.total}")
            sys.stdout.flush()


def _infra_up(args: argparse.Namespace) -> int:
    from infra import local_services

    settings = local_services.up(args.dir.resolve())
    print(local_services.format_settings(settings))
    return 0


def _infra_down(args: argparse.Namespace) -> int:
    from infra import local_services

    local_services.down(args.dir.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
