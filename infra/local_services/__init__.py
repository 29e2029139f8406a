"""Install, start and stop real PostgreSQL, Redis and Kafka for development and tests.

Why this exists: the distributed deployment must be tested against the real services, and
the development and CI machines have no Docker engine. Everything therefore comes from
what those machines can reach: Debian packages (PostgreSQL, Redis, Java, Maven) and Maven
Central (the Kafka broker jars, see ``infra/kafka/pom.xml``).

Each service listens on a free loopback port and keeps all of its state under one base
directory, so several checkouts (or several test sessions) can run side by side.
``up`` is idempotent: called again on a directory whose services are still running, it
returns the same settings without starting anything. Any service that cannot start
raises :class:`ServiceStartError` with the tail of its log, so a broken environment fails
the build loudly instead of silently skipping the tests that need it.

Command line (stdout carries only ``KEY=value`` lines, progress goes to stderr)::

    python -m infra.local_services up .services
    python -m infra.local_services down .services

The package, one job per module: ``orchestration`` (``up``, ``down``), one module per
service (``postgres_server``, ``redis_server``, ``kafka_broker``), what they are installed
from (``packages``, ``kafka_libs``), the helpers they share (``processes``, ``ports``,
``layout``, ``errors``), ``settings`` (the ``KEY=value`` lines) and ``__main__``.
"""

from infra.local_services.errors import ServiceStartError
from infra.local_services.kafka_libs import kafka_libs_dir
from infra.local_services.layout import STATE_FILE
from infra.local_services.orchestration import down, up
from infra.local_services.processes import _pid_alive as _pid_alive
from infra.local_services.settings import SETTING_KEYS, format_settings, parse_settings

# _pid_alive: tests/services/test_local_services.py checks that ``down`` left no process.
__all__ = [
    "SETTING_KEYS",
    "STATE_FILE",
    "ServiceStartError",
    "down",
    "format_settings",
    "kafka_libs_dir",
    "parse_settings",
    "up",
]
