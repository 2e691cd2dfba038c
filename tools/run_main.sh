#!/usr/bin/env bash
# The README's main job: sets up .venv/ (idempotent), then runs the synthetic TAL
# benchmark (head-only vs LoSA vs full fine-tuning, 3 seeds) into
# work_dirs/synthetic_benchmark. Extra arguments go to tools/synthetic_benchmark.py,
# e.g. `bash tools/run_main.sh --quick` or `--ablations wo_long gate_one`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
exec .venv/bin/python tools/synthetic_benchmark.py --out work_dirs/synthetic_benchmark "$@"
