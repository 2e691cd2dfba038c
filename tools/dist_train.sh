#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG GPUS [train.py options]
# One process per GPU (nccl); on a machine without CUDA, GPUS CPU processes (gloo).
# Several nodes: run the same command on every node with NNODES (node count), NODE_RANK
# (0 .. NNODES-1), MASTER_ADDR (node 0's address) and the same PORT (default 29500 with
# several nodes); docs/training_at_scale.md.
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
if [ "$NNODES" -gt 1 ]; then
    PORT=${PORT:-29500}  # every node must agree on it
else
    PORT=${PORT:-$((29500 + RANDOM % 1000))}  # concurrent single-node jobs do not collide
fi
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
# CPU processes share the cores; one thread each avoids oversubscription.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
