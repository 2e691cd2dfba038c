"""Multi-node launches on one machine: two ``torchrun`` node ranks (tools/dist_train.sh
with NNODES=2, NODE_RANK=0/1, MASTER_ADDR, PORT) over gloo give the same losses and
weights as a 2-process single-node run, and so does tools/slurm_train.sh starting two
tasks (a stand-in ``srun`` runs them here as slurm would, with SLURM_PROCID ...)."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from tests.fixtures.planted_features import tiny_feature_config, write_planted_features

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
FAKE_SRUN = r'''#!/usr/bin/env bash
# stand-in for slurm's srun on one machine: --ntasks copies of the command
n=1; per=1
while [ $# -gt 0 ]; do
    case "$1" in
        --ntasks=*) n=${1#*=} ;;
        --ntasks-per-node=*) per=${1#*=} ;;
        -p) shift ;;
        -*) ;;
        *) break ;;
    esac
    shift
done
pids=()
for ((i = 0; i < n; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=$((i % per)) SLURM_NTASKS=$n \
        SLURM_JOB_NODELIST=localhost "$@" &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
'''


def _env(**extra):
    return dict(os.environ, PYTHON=sys.executable, **extra)


def _port(offset):
    return str(20000 + (os.getpid() * 7 + offset) % 20000)


def _losses(work):
    """Per-iteration losses rank 0 logged, and the last checkpoint's weights; checks
    the learning rate was scaled to the global batch of 2 (1 a process, 2 processes)."""
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1, scalars
    with open(scalars[0]) as f:
        rows = [json.loads(line) for line in f]
    losses = [(r['step'], r['loss']) for r in rows if 'loss' in r]
    log = glob.glob(osp.join(work, '*', '*.log'))
    with open(log[0]) as f:
        assert 'current batch size is 2. Scaling the original LR by 2.0' in f.read()
    state = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu')['state_dict']
    return losses, state


def _check(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('multinode')
    data = write_planted_features(str(tmp / 'data'), num_videos=4, length=48)
    cfg = Config(tiny_feature_config(data['ann_file'], data['feature_dir'], str(tmp / 'w'),
                                     max_epochs=2))
    cfg.train_dataloader.batch_size = 1  # 4 videos / 2 ranks: 2 iterations an epoch
    cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    cfg.auto_scale_lr = dict(enable=True, base_batch_size=1)  # lr x world size
    cfg.log_level = 'INFO'  # the scaling is logged at INFO
    cfg_file = str(tmp / 'tiny.py')
    cfg.dump(cfg_file)
    work = str(tmp / 'single')
    _check(subprocess.run(['bash', 'tools/dist_train.sh', cfg_file, '2', '--work-dir', work],
                          cwd=ROOT, env=_env(PORT=_port(0)), capture_output=True, text=True,
                          timeout=600))
    return tmp, cfg_file, _losses(work)


def _same(reference, other):
    (ref_losses, ref_state), (losses, state) = reference, other
    assert len(ref_losses) == 4 and losses == ref_losses  # every logged loss, bitwise
    assert state.keys() == ref_state.keys()
    for key, value in ref_state.items():
        assert torch.equal(state[key], value), key


def test_two_node_ranks_equal_one_node(setup):
    tmp, cfg_file, reference = setup
    work = str(tmp / 'two_nodes')
    port = _port(1)
    nodes = [subprocess.Popen(['bash', 'tools/dist_train.sh', cfg_file, '1', '--work-dir', work],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_env(NNODES='2', NODE_RANK=str(rank),
                                                  MASTER_ADDR='127.0.0.1', PORT=port))
             for rank in (0, 1)]
    for node in nodes:
        out, err = node.communicate(timeout=600)
        assert node.returncode == 0, out[-3000:] + err[-5000:]
    _same(reference, _losses(work))


def test_slurm_script_two_tasks_equal_one_node(setup):
    tmp, cfg_file, reference = setup
    bin_dir = tmp / 'fake_slurm'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(FAKE_SRUN)
    (bin_dir / 'scontrol').write_text('#!/usr/bin/env bash\necho 127.0.0.1\n')
    for name in ('srun', 'scontrol'):
        os.chmod(bin_dir / name, 0o755)
    work = str(tmp / 'slurm')
    env = _env(PATH=f"{bin_dir}:{os.environ['PATH']}", GPUS='2', GPUS_PER_NODE='2',
               GRES='', PORT=_port(2), OMP_NUM_THREADS='1')
    _check(subprocess.run(['bash', 'tools/slurm_train.sh', 'cpu', 'tiny', cfg_file,
                           '--work-dir', work], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600))
    _same(reference, _losses(work))
