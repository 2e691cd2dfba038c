#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] [PORT=29500] [GRES=...] \
#        bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]
# As MMAction2's slurm_train.sh: srun starts GPUS tasks, GPUS_PER_NODE a node. Each task
# takes its rank from slurm (SLURM_PROCID, SLURM_LOCALID, SLURM_NTASKS) and the first
# node of the job as master, then runs tools/train.py with the pytorch launcher: nccl
# with CUDA, gloo on CPU nodes. docs/training_at_scale.md.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
export MASTER_PORT=${PORT:-29500}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
GRES=${GRES-"--gres=gpu:${GPUS_PER_NODE}"}  # GRES="" on CPU partitions
export PYTHONPATH="$ROOT:${PYTHONPATH:-}"
# shellcheck disable=SC2086,SC2016
srun -p "${PARTITION}" --job-name="${JOB_NAME}" ${GRES} --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 ${SRUN_ARGS} \
    bash -c 'export RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID WORLD_SIZE=$SLURM_NTASKS
             export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)
             exec "$@"' _ \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:4}"
