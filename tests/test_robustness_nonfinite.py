"""Issue 16, point 1: one NaN must not ruin a run silently (docs/robustness.md).

A NaN in a feature file is refused by file when loaded (training and testing); a
non-finite loss / gradient stops training before any weight changes, naming the epoch,
the iteration and the batch's videos (or, with ``action='skip'``, the step is skipped,
counted and leaves weights and buffers untouched); a checkpoint with non-finite trained
weights is never written."""
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmcv.transforms import BaseTransform
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmaction.registry import TRANSFORMS

from losa_plugin.datasets.transforms import LoadTALFeature
from losa_plugin.engine import NonFiniteGuardHook, add_plugin_hooks
from tests.fixtures.planted_features import tiny_feature_config, write_planted_features

POISON = {'on': False}
VICTIM = 'video_001'


@TRANSFORMS.register_module(force=True)
class _PoisonFeatureForTest(BaseTransform):
    """NaN into the victim's features once ``POISON['on']`` (after loading, i.e. what a
    diverging forward or an upstream bug would give)."""

    def transform(self, results):
        if POISON['on'] and results['video_id'] == VICTIM:
            results['feat'] = results['feat'].copy()
            results['feat'][:, 3] = np.nan
        return results


class _PoisonFrom(Hook):
    priority = 'LOWEST'

    def __init__(self, epoch):
        self.epoch = epoch

    def before_train_epoch(self, runner):
        POISON['on'] = runner.epoch + 1 >= self.epoch


class _Watch(Hook):
    """For iterations whose batch holds the victim: weights and buffers before / after."""
    priority = 'LOWEST'

    def __init__(self):
        self.pairs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._state = {k: v.clone() for k, v in runner.model.state_dict().items()}
        self._hit = POISON['on'] and VICTIM in [s.video_id for s in data_batch['data_samples']]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._hit:
            self.pairs.append((self._state, {k: v.clone() for k, v in
                                             runner.model.state_dict().items()}))


@pytest.fixture
def data(tmp_path):
    return write_planted_features(str(tmp_path / 'data'), num_videos=4, length=48)


def _cfg(data, work, action='raise'):
    cfg = Config(tiny_feature_config(data['ann_file'], data['feature_dir'], work,
                                     max_epochs=3))
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.pipeline.insert(1, dict(type='_PoisonFeatureForTest'))
    cfg.train_cfg.val_interval = 100
    add_plugin_hooks(cfg)
    cfg.default_hooks.nonfinite_guard = dict(type='NonFiniteGuardHook', action=action)
    return cfg


def _finite(state):
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_nan_in_a_feature_file_is_refused_by_file(data):
    path = osp.join(data['feature_dir'], f'{VICTIM}.npy')
    feats = np.load(path)
    feats[7, 2] = np.nan
    feats[9, 0] = np.inf
    np.save(path, feats)
    for results in (dict(video_id=VICTIM, feature_path=path, feature_stride=4,
                         frames_per_feature=16),  # training: the whole video
                    dict(video_id=VICTIM, feature_path=path, feature_stride=4,
                         frames_per_feature=16, window_start=0, window_len=16)):  # test
        with pytest.raises(ValueError) as err:
            LoadTALFeature(format='TC')(results)
        msg = str(err.value)
        assert VICTIM in msg and path in msg and '2 non-finite values' in msg \
            and 'time step 7' in msg, msg


def test_non_finite_loss_stops_training_before_any_weight_changes(data, tmp_path):
    POISON['on'] = False
    runner = Runner.from_cfg(_cfg(data, str(tmp_path / 'work')))
    runner.register_hook(_PoisonFrom(2))
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    POISON['on'] = False
    msg = str(err.value)
    assert 'epoch 2' in msg and VICTIM in msg and 'iteration' in msg, msg
    assert 'No weight was changed' in msg
    assert _finite(runner.model.state_dict())
    assert osp.exists(tmp_path / 'work' / 'epoch_1.pth')
    assert not osp.exists(tmp_path / 'work' / 'epoch_2.pth')
    ckpt = torch.load(tmp_path / 'work' / 'epoch_1.pth', map_location='cpu')
    assert _finite(ckpt['state_dict'])


def test_skip_mode_skips_counts_and_changes_nothing(data, tmp_path):
    POISON['on'] = False
    watch = _Watch()
    runner = Runner.from_cfg(_cfg(data, str(tmp_path / 'work'), action='skip'))
    runner.register_hook(_PoisonFrom(2))
    runner.register_hook(watch)
    runner.train()
    POISON['on'] = False
    # the victim is in one batch of each of epochs 2 and 3
    assert len(watch.pairs) == 2
    assert runner.message_hub.get_scalar('train/nonfinite_skipped').current() == 2
    for before, after in watch.pairs:  # weights and buffers (loss normaliser) untouched
        for k in before:
            assert torch.equal(before[k], after[k]), k
    final = torch.load(tmp_path / 'work' / 'epoch_3.pth', map_location='cpu')
    assert _finite(final['state_dict'])


def test_too_many_skips_in_a_row_raise(data, tmp_path):
    POISON['on'] = False
    cfg = _cfg(data, str(tmp_path / 'work'), action='skip')
    cfg.default_hooks.nonfinite_guard.max_skipped = 0
    runner = Runner.from_cfg(cfg)
    runner.register_hook(_PoisonFrom(2))
    with pytest.raises(FloatingPointError, match='max_skipped=0'):
        runner.train()
    POISON['on'] = False


def test_a_checkpoint_with_non_finite_weights_is_not_written():
    hook = NonFiniteGuardHook()
    model = torch.nn.Linear(2, 2)
    runner = SimpleNamespace(model=model, epoch=4, iter=40)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hook.before_save_checkpoint(runner, dict(state_dict=state))  # finite: fine
    state['bias'][1] = float('nan')
    with pytest.raises(FloatingPointError, match=r'epoch 4.*state_dict.*bias'):
        hook.before_save_checkpoint(runner, dict(state_dict=state))
    ema = {'module.weight': torch.full((2, 2), float('inf'))}
    with pytest.raises(FloatingPointError, match='ema_state_dict.*module.weight'):
        hook.before_save_checkpoint(runner, dict(state_dict=model.state_dict(),
                                                 ema_state_dict=ema))
