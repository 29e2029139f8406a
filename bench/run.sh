#!/usr/bin/env bash
# The benchmark in one command (see bench/README.md):
#   bash bench/run.sh
# Loads 1,000 users and 100,000 events into bench/results/data (once: a finished load is
# detected and skipped, an interrupted one resumes), then measures the server over HTTP
# and writes bench/results/embedded.md. Environment overrides: USERS, EVENTS, SEED,
# DATA_DIR, DURATION, REQUESTS; PROFILE=1 also writes bench/results/profile.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATA_DIR=${DATA_DIR:-bench/results/data}
USERS=${USERS:-1000}
EVENTS=${EVENTS:-100000}
SEED=${SEED:-1}
DURATION=${DURATION:-30}
REQUESTS=${REQUESTS:-2000}
PYTHON=${PYTHON:-python}

echo "== load: $USERS users, $EVENTS events into $DATA_DIR (seed $SEED)"
"$PYTHON" bench/load.py --data-dir "$DATA_DIR" --users "$USERS" --events "$EVENTS" --seed "$SEED"

echo "== measure over HTTP"
"$PYTHON" bench/measure.py --data-dir "$DATA_DIR" --duration "$DURATION" --requests "$REQUESTS"

if [ "${PROFILE:-0}" = 1 ]; then
  echo "== profile the read hot paths"
  "$PYTHON" bench/profile_reads.py --data-dir "$DATA_DIR"
fi
