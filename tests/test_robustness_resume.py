"""Issue 16, point 2: an interrupted run equals the uninterrupted one with random
training windows, 2 persistent data-loader workers, drop-path and validation between
epochs; the sampler's and the samples' seeds survive --resume (docs/robustness.md)."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.hooks import Hook
from mmengine.runner import Runner

from losa_plugin.engine import SeededIndex, SeededSampler, add_plugin_hooks, sample_seed
from tests.fixtures.planted_features import tiny_feature_config, write_planted_features


class _Stop(Exception):
    pass


class _Interrupt(Hook):
    """Raises after epoch ``at`` has been checkpointed (a crash between epochs)."""
    priority = 'LOWEST'

    def __init__(self, at: int) -> None:
        self.at = at

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == self.at:
            raise _Stop


class _Record(Hook):
    """Loss and windows of every training iteration, by iteration number."""

    def __init__(self) -> None:
        self.loss, self.windows = {}, {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.loss[runner.iter] = float(outputs['loss'].detach())
        self.windows[runner.iter] = [(s.video_id, int(s.window_start_step))
                                     for s in data_batch['data_samples']]


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_planted_features(str(tmp_path_factory.mktemp('data')), num_videos=6,
                                  length=64)


def _cfg(data, work, seed=0, workers=2, sampler='SeededSampler'):
    cfg = Config(tiny_feature_config(data['ann_file'], data['feature_dir'], work,
                                     max_epochs=3))
    loader = cfg.train_dataloader
    loader.update(batch_size=2, num_workers=workers, persistent_workers=workers > 0,
                  sampler=dict(type=sampler, shuffle=True))
    # random windows of 16-32 of the 64 steps (the shipped configs' kind of pipeline)
    loader.dataset.pipeline = [
        dict(type='LoadTALFeature', format='TC'),
        dict(type='RandomTruncateFeature', max_seq_len=32, crop_ratio=(0.5, 1.0)),
        dict(type='PackTALInputs')]
    cfg.model.head.drop_path = 0.1  # random draws in the main process too
    cfg.train_cfg.val_interval = 1  # validation between checkpoint and next epoch
    cfg.randomness = dict(seed=seed)
    add_plugin_hooks(cfg)
    return cfg


def _run(cfg, *hooks):
    runner = Runner.from_cfg(cfg)
    for h in hooks:
        runner.register_hook(h)
    try:
        runner.train()
    except _Stop:
        pass
    return runner


def _weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


def test_interrupted_run_equals_uninterrupted(data, tmp_path):
    full = _Record()
    _run(_cfg(data, str(tmp_path / 'a')), full)

    first = _Record()
    _run(_cfg(data, str(tmp_path / 'b')), first, _Interrupt(at=2))
    assert not osp.exists(tmp_path / 'b' / 'epoch_3.pth')
    # resume without a seed in the config: the run draws a new one; the checkpoint's
    # run seed and sampler seed must win
    cfg = _cfg(data, str(tmp_path / 'b'), seed=None)
    cfg.resume = True
    resumed = _Record()
    _run(cfg, resumed)

    # the windows are random: the same video gets different windows across epochs
    starts = {}
    for it, ws in full.windows.items():
        for vid, start in ws:
            starts.setdefault(vid, set()).add(start)
    assert sum(len(s) > 1 for s in starts.values()) >= 3, starts

    assert sorted(resumed.loss) == [6, 7, 8]
    for it in (6, 7, 8):
        assert resumed.windows[it] == full.windows[it], it
        assert resumed.loss[it] == full.loss[it], (it, resumed.loss[it], full.loss[it])
    a, b = _weights(tmp_path / 'a' / 'epoch_3.pth'), _weights(tmp_path / 'b' / 'epoch_3.pth')
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_windows_do_not_depend_on_the_worker(data, tmp_path):
    """Per-sample seeds: 0 or 2 workers load the same windows, so training is identical."""
    two, none = _Record(), _Record()
    _run(_cfg(data, str(tmp_path / 'w2'), workers=2), two)
    _run(_cfg(data, str(tmp_path / 'w0'), workers=0), none)
    assert two.windows == none.windows and two.loss == none.loss


def test_seeded_sampler_order_and_seeds():
    dataset = list(range(7))
    for rank in (0, 1):
        plain = DefaultSampler(dataset, shuffle=True, seed=5)
        seeded = SeededSampler(dataset, shuffle=True, seed=5)
        for s in (plain, seeded):
            s.rank, s.world_size = rank, 2  # as two processes would see it
            s.num_samples, s.total_size = 4, 8
            s.set_epoch(3)
        got = list(seeded)
        assert [int(i) for i in got] == list(plain)  # the same order as mmengine's
        # position p of the rounded-up global order: rank + 2 * k
        assert [i.seed for i in got] == [sample_seed(5, 3, rank + 2 * k) for k in range(4)]
    # seeds survive the trip to a worker; neighbours and epochs get different seeds
    idx = SeededIndex(4, 1234)
    back = pickle.loads(pickle.dumps(idx))
    assert int(back) == 4 and back.seed == 1234 and isinstance(back, SeededIndex)
    seeds = {sample_seed(5, e, p) for e in range(3) for p in range(50)}
    assert len(seeds) == 150


def test_sample_randomness_leaves_the_caller_untouched(data):
    """Loading a seeded sample in the main process does not move the training's random
    states, and the same seed gives the same window."""
    from mmengine.registry import init_default_scope
    from mmaction.registry import DATASETS
    init_default_scope('mmaction')
    cfg = _cfg(data, '/tmp/unused')
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(1)
    torch.manual_seed(1)
    before = (np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    a = ds[SeededIndex(2, 99)]['data_samples'].window_start_step
    b = ds[SeededIndex(2, 99)]['data_samples'].window_start_step
    c = {ds[SeededIndex(2, s)]['data_samples'].window_start_step for s in range(20)}
    assert a == b and len(c) > 1
    assert np.array_equal(np.random.get_state()[1], before[0])
    assert torch.equal(torch.get_rng_state(), before[1])
