#!/usr/bin/env bash
# The README's test command: sets up .venv/ (idempotent) and runs the whole test suite.
# Usage: bash tools/run_tests.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
exec .venv/bin/python -m pytest tests -q -p no:cacheprovider --durations=15 "$@"
