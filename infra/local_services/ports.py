"""Loopback ports: pick free ones, and start again when another process took one first."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable

from infra.local_services.errors import ServiceStartError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

PORT_CLASH = "Address already in use"
PORT_ATTEMPTS = 3


def _free_ports(count: int) -> list[int]:
    """Ports the kernel considers free on loopback; all held open until all are chosen."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _retry_port_clash(name: str, start: Callable[[], int]) -> int:
    """Run ``start`` again (it picks new ports) if another process took a chosen port.

    A port is only known to be free when it is picked; something else on the machine
    (another test session, an outgoing connection) can bind it before the service does.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return start()
        except ServiceStartError as exc:
            if attempt == PORT_ATTEMPTS or PORT_CLASH not in exc.log_tail:
                raise
            log.warning("%s: a chosen port was taken meanwhile; retrying", name)
    raise AssertionError("unreachable")
