#!/usr/bin/env bash
# The README's test command: sets up .venv/ (idempotent) and runs the whole test suite
# (the slow end-to-end tests included) on two worker processes, one per core
# (pytest-xdist; LOSA_TEST_WORKERS=0 runs in this process). Modules stay whole on one
# worker, so a module's shared fixture is built once; the slow tests start first.
# Prints the slowest tests by wall time and by CPU time.
# Usage: bash tools/run_tests.sh [pytest args]   (e.g. -m "not slow" while iterating)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
WORKERS="${LOSA_TEST_WORKERS:-2}"
exec .venv/bin/python -m pytest tests -q -p no:cacheprovider -n "$WORKERS" --dist loadscope \
    --durations=15 --cpu-durations=15 "$@"
