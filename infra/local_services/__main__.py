"""Command line: ``python -m infra.local_services up|down [DIR]``.

stdout carries only ``KEY=value`` lines, progress goes to stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.local_services.errors import ServiceStartError
from infra.local_services.orchestration import down, up
from infra.local_services.settings import format_settings


def _main(argv: Sequence[str]) -> int:
    """``up DIR`` prints the settings; ``down DIR`` stops; failures print the log tail."""
    log_format = "[services +%(relativeCreated).0fms] %(message)s"
    logging.basicConfig(level=logging.INFO, format=log_format, stream=sys.stderr)
    if len(argv) not in (1, 2) or argv[0] not in ("up", "down"):
        print("usage: python -m infra.local_services up|down [DIR]", file=sys.stderr)
        return 2
    base_dir = Path(argv[1] if len(argv) == 2 else ".services")
    if argv[0] == "down":
        down(base_dir)
        return 0
    try:
        settings = up(base_dir)
    except ServiceStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(format_settings(settings))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
