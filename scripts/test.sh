#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run).
#
# On a fresh Debian machine it installs the project, installs and starts real PostgreSQL,
# Redis and Kafka (infra/local_services/), then runs ruff, mypy and pytest against them.
# Services given through CALENDAR_SHARDS, CALENDAR_REDIS_URL and CALENDAR_KAFKA_BOOTSTRAP
# are used as they are. Services this script starts are stopped when it exits.
# Extra arguments go to pytest. Needs no stdin; safe with CI=true.
#
#   CALENDAR_SERVICES_DIR  where started services keep their state (default: .services)
#   CALENDAR_KAFKA_LIBS    Kafka jar cache (default: ~/.cache/calendar-backend/kafka-libs)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec </dev/null

export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q -e '.[test]'

started_dir=""
stop_services() {
  if [[ -n "$started_dir" ]]; then
    python -m infra.local_services down "$started_dir" || echo "warning: could not stop services in $started_dir" >&2
  fi
}
trap stop_services EXIT
trap "exit 130" INT TERM

if [[ -z "${CALENDAR_SHARDS:-}" || -z "${CALENDAR_REDIS_URL:-}" || -z "${CALENDAR_KAFKA_BOOTSTRAP:-}" ]]; then
  started_dir="${CALENDAR_SERVICES_DIR:-.services}"
  # Command substitution under set -e: a service that cannot start aborts the run here.
  settings="$(python -m infra.local_services up "$started_dir")"
  while IFS='=' read -r key value; do
    if [[ -n "$key" ]]; then
      export "$key=$value"
      echo "$key=$value" >&2
    fi
  done <<<"$settings"
fi

# Tests that need services must fail, not skip, when the services are missing.
export CALENDAR_REQUIRE_SERVICES=1

ruff check .
mypy
pytest -q "$@"
