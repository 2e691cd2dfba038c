"""tools/dist_train.sh with 2 CPU processes (gloo), then --resume from the last checkpoint.

With random training windows (per-sample seeds, a persistent worker per process) and
drop-path, the resumed run ends bitwise equal to an uninterrupted one (issue 16,
docs/robustness.md)."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from tests.fixtures.planted_features import tiny_feature_config, write_planted_features

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def _run(args, **kw):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(29500 + os.getpid() % 1000))
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, **kw)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow(cpu_s=75)
def test_dist_train_two_processes_then_resume(tmp_path):
    data = write_planted_features(str(tmp_path / 'data'), num_videos=4, length=64)
    work = str(tmp_path / 'work')
    cfg = Config(tiny_feature_config(data['ann_file'], data['feature_dir'], work, max_epochs=3))
    cfg.train_dataloader.update(batch_size=1, num_workers=1, persistent_workers=True,
                                sampler=dict(type='SeededSampler', shuffle=True))
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='LoadTALFeature', format='TC'),
        dict(type='RandomTruncateFeature', max_seq_len=32, crop_ratio=(0.5, 1.0)),
        dict(type='PackTALInputs')]
    cfg.model.head.drop_path = 0.1
    cfg.log_level = 'INFO'  # the resume message is logged at INFO
    cfg_file = str(tmp_path / 'tiny_cfg.py')
    cfg.dump(cfg_file)
    assert cfg.train_cfg.max_epochs == cfg.train_cfg.val_interval == 3

    out = _run(['bash', 'tools/dist_train.sh', cfg_file, '2', '--work-dir', work,
                '--cfg-options', 'train_cfg.max_epochs=2'])
    assert 'gloo' in out or not torch.cuda.is_available()
    first = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu')  # weights_only default
    # 4 videos, 2 processes, batch 1 per process -> 2 iterations an epoch
    assert first['meta']['epoch'] == 2 and first['meta']['iter'] == 4

    out = _run(['bash', 'tools/dist_train.sh', cfg_file, '2', '--work-dir', work, '--resume',
                '--cfg-options', 'train_cfg.max_epochs=3'])
    assert 'resumed epoch: 2, iter: 4' in out, out[-3000:]
    last = torch.load(osp.join(work, 'epoch_3.pth'), map_location='cpu')
    assert last['meta']['epoch'] == 3 and last['meta']['iter'] == 6
    # AdamW's step count continues from the resumed state (6, not 2)
    steps = {int(s['step']) for s in last['optimizer']['state'].values()}
    assert steps == {6}, steps

    # Resumed training equals uninterrupted training: the same 3 epochs in one run give
    # the same weights and optimizer state. (The dumped config already has
    # max_epochs = val_interval = 3, so one uninterrupted run serves every comparison.)
    whole = str(tmp_path / 'whole')
    _run(['bash', 'tools/dist_train.sh', cfg_file, '2', '--work-dir', whole])
    ref = torch.load(osp.join(whole, 'epoch_3.pth'), map_location='cpu')
    assert ref['meta']['iter'] == 6
    assert ref['state_dict'].keys() == last['state_dict'].keys()
    for name, value in ref['state_dict'].items():
        torch.testing.assert_close(last['state_dict'][name], value, rtol=0, atol=0, msg=name)
    assert ref['optimizer']['state'].keys() == last['optimizer']['state'].keys()
    for key, state in ref['optimizer']['state'].items():
        for name in ('exp_avg', 'exp_avg_sq'):
            torch.testing.assert_close(last['optimizer']['state'][key][name], state[name],
                                       rtol=0, atol=0)
