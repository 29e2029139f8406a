"""`calctl`: serve, users create, replay, and infra up/down for local services."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from infra.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.run(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calctl", description="Calendar backend")
    commands = parser.add_subparsers(required=True)
    serve = commands.add_parser("serve", help="run the API (embedded default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data-dir", type=Path)
    serve.set_defaults(run=_serve)
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
    from infra.bootstrap import embedded

    container = embedded(_settings(args))
    print(f"calendar API on http://{args.host}:{args.port} (data in {container.settings.data_dir})")
    uvicorn.run(create_app(container), host=args.host, port=args.port, log_level="warning")


def _create_user(args: argparse.Namespace) -> int:
    from commands.handlers import EmailTakenError, sign_up
    from commands.models import SignUp
    from infra.bootstrap import embedded

    container = embedded(_settings(args))
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


def _replay(args: argparse.Namespace) -> int:
    from infra.bootstrap import all_projections, embedded
    from infra.delivery import InProcessDelivery

    container = embedded(_settings(args))
    chosen = [p for p in all_projections() if args.projection in ("all", p.name)]
    if not chosen:
        names = ", ".join(p.name for p in all_projections())
        print(f"unknown projection {args.projection!r}; choose from: {names}", file=sys.stderr)
        return 2
    shards = [s for s in container.stores.shards if args.shard in (None, s.index)]
    total = sum(s.recorder.max_notification_id() or 0 for s in shards)
    replayer = InProcessDelivery(shards, container.views, chosen, fanout=None)
    started, done = time.monotonic(), 0

    def progress(delivered: int) -> None:
        nonlocal done
        done += delivered
        _bar(done, total)

    count = replayer.rebuild(progress)
    elapsed = max(time.monotonic() - started, 1e-9)
    print(f"\nreplayed {count} events into {', '.join(p.name for p in chosen)} "
          f"in {elapsed:.2f} s ({count / elapsed:,.0f} events/s)")
    container.close()
    return 0


def _bar(done: int, total: int, width: int = 40) -> None:
    filled = width if total == 0 else min(width, width * done // total)
    sys.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
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
