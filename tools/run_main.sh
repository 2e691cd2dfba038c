#!/usr/bin/env bash
# The README's main job: sets up .venv/ (idempotent), then runs the synthetic TAL
# benchmark into work_dirs/synthetic_benchmark: both regimes (aligned, transfer), each
# with its own pretrained tiny ViT, head-only and LoSA over 6 paired seeds and full
# fine-tuning over 3 (docs/synthetic_benchmark.md). Extra arguments go to
# tools/synthetic_benchmark.py, e.g. `bash tools/run_main.sh --quick`,
# `--data-seed 1` (a fresh data set and pretraining) or `--ablations wo_long gate_one`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
exec .venv/bin/python tools/synthetic_benchmark.py --out work_dirs/synthetic_benchmark "$@"
