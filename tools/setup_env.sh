#!/usr/bin/env bash
# Creates (or refreshes) the project environment in .venv/ at the project root.
# Idempotent: a stamp of the inputs skips the work when nothing changed.
# Usage: bash tools/setup_env.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
SHARED_WHEELS="$ROOT/../shared/wheels"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

stamp_src="$(cat "$ROOT/tools/setup_env.sh" "$ROOT/requirements/"*.txt "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$stamp_src" ]; then
  echo "[setup_env] environment up to date: $VENV"
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip "setuptools<81" wheel   # mmcv's setup.py imports pkg_resources

# torch first and pinned, otherwise a dependency pulls the newest CUDA build (several GB).
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  "${PIP[@]}" install -q "torch==$TORCH_VERSION"
else
  "${PIP[@]}" install -q "torch==$TORCH_VERSION" || "${PIP[@]}" install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
fi

"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

# mmcv with its compiled ops (mmdet imports mmcv.ops, so mmcv-lite is not enough).
if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  if [ -d "$SHARED_WHEELS" ] && ls "$SHARED_WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1 \
     && "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('2.13.0') and not torch.cuda.is_available() else 1)"; then
    echo "[setup_env] mmcv 2.1.0 from the prebuilt wheel in $SHARED_WHEELS"
    "${PIP[@]}" install -q --no-deps --find-links "$SHARED_WHEELS" mmcv==2.1.0
  else
    echo "[setup_env] building mmcv 2.1.0 with its ops from source (13-25 min on 2 cores; pip caches the wheel)"
    MMCV_WITH_OPS=1 "${PIP[@]}" install --no-deps --no-build-isolation mmcv==2.1.0
  fi
fi

# mmaction2 / mmdet without their deps: theirs would pull opencv with GUI libs; ours are pinned above.
"${PIP[@]}" install -q --no-deps mmaction2==1.2.0 mmdet==3.3.0
"${PIP[@]}" install -q --no-deps -e "$ROOT"

"$VENV/bin/python" -c "import torch, mmcv.ops, mmengine, mmaction, mmdet, losa_plugin; print('[setup_env] torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmaction', mmaction.__version__, 'mmdet', mmdet.__version__)"
echo "$stamp_src" > "$VENV/.stamp"
