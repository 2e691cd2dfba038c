"""No checkpoint is chosen on the test set: a run whose validation evaluator scores test
videos refuses ``save_best`` before its first step (or warns, on request); ``save_best``
on held-out training videos trains; the shipped configs keep the last epoch, and their
held-out THUMOS-14 variant validates on no test video."""
import glob
import logging
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from losa_plugin.engine import add_plugin_hooks
from losa_plugin.engine.hooks.checkpoint_selection_check_hook import shared_test_videos
from losa_plugin.evaluation import TALMetric
from tests.conftest import SHARED_DATA
from tests.fixtures.planted_features import tiny_feature_config, write_planted_features

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


class _CountIters(Hook):
    def __init__(self):
        self.n = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.n += 1


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    # 4 training videos video_00k, the same 4 as test videos video_00k_t
    return write_planted_features(str(tmp_path_factory.mktemp('d')), num_videos=4, length=48)


def _cfg(data, work, save_best='auto', val_subset='Test', **val_kw):
    cfg = Config(tiny_feature_config(data['ann_file'], data['feature_dir'], work,
                                     max_epochs=1))
    cfg.val_dataloader.dataset.update(subset=val_subset, **val_kw)
    cfg.val_evaluator.update(subset=val_subset, **val_kw)
    cfg.test_dataloader = dict(cfg.val_dataloader, dataset=dict(cfg.val_dataloader.dataset,
                                                                subset='Test', video_ids=None))
    cfg.test_evaluator = dict(cfg.val_evaluator, subset='Test', video_ids=None)
    cfg.test_cfg = dict(type='TestLoop')
    cfg.default_hooks.checkpoint.update(save_best=save_best, rule='greater')
    add_plugin_hooks(cfg)
    return cfg


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    count = _CountIters()
    runner.register_hook(count)
    runner.train()
    return count


def test_save_best_on_the_test_set_is_refused_before_any_step(data, tmp_path):
    work = str(tmp_path / 'w')
    runner = Runner.from_cfg(_cfg(data, work))
    count = _CountIters()
    runner.register_hook(count)
    with pytest.raises(ValueError) as err:
        runner.train()
    msg = str(err.value)
    assert "save_best=['auto']" in msg and 'test-set selection' in msg
    assert '4 of its 4 videos are test videos' in msg and data['ann_file'] in msg
    assert count.n == 0 and not osp.exists(osp.join(work, 'epoch_1.pth'))


def test_save_best_on_test_named_subset_without_a_test_evaluator(data, tmp_path):
    cfg = _cfg(data, str(tmp_path / 'w'))
    cfg.test_evaluator = cfg.test_dataloader = cfg.test_cfg = None
    with pytest.raises(ValueError, match="it evaluates the subset 'Test'"):
        Runner.from_cfg(cfg).train()


def test_warn_mode_trains_and_warns_at_every_validation(data, tmp_path):
    cfg = _cfg(data, str(tmp_path / 'w'))
    cfg.default_hooks.checkpoint_selection_check = dict(
        type='CheckpointSelectionCheckHook', on_test_split='warn')
    cfg.train_cfg.update(max_epochs=2, val_interval=1)
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda r: records.append(r.getMessage())
    runner = Runner.from_cfg(cfg)
    runner.logger.addHandler(handler)  # the runner's logger is the current one
    try:
        runner.train()
    finally:
        runner.logger.removeHandler(handler)
    # once before training, once after each of the 2 validations
    assert sum('test-set selection' in m for m in records) == 3, records


def test_save_best_on_held_out_training_videos_trains(data, tmp_path):
    held_out = ['video_003']
    cfg = _cfg(data, str(tmp_path / 'w'), save_best='average_mAP', val_subset='Validation',
               video_ids=held_out)
    cfg.train_dataloader.dataset.block_list = held_out
    cfg.train_dataloader.batch_size = 1
    count = _train(cfg)
    assert count.n == 3  # 3 of the 4 training videos, batch 1
    assert glob.glob(osp.join(str(tmp_path / 'w'), 'best_average_mAP_epoch_1.pth'))


def test_no_save_best_is_never_refused(data, tmp_path):
    assert _train(_cfg(data, str(tmp_path / 'w'), save_best=None)).n == 1


def _real_data_root(tmp_path, name, source):
    os.makedirs(tmp_path / 'annotations', exist_ok=True)
    os.symlink(source, tmp_path / 'annotations' / name)
    return str(tmp_path)


@pytest.mark.parametrize('config', sorted(
    c for c in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in c and f'{os.sep}synthetic{os.sep}' not in c),
    ids=lambda c: osp.relpath(c, ROOT))
def test_real_data_configs_follow_data_root_and_keep_the_last_epoch(config):
    cfg = Config.fromfile(config)
    parts = [cfg[k].dataset for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    parts += [cfg.val_evaluator, cfg.test_evaluator]
    for part in parts:
        assert part.data_root == cfg.data_root, part
        assert not osp.isabs(part.ann_file) and not part.ann_file.startswith(cfg.data_root)
    if 'heldout' in config:
        assert cfg.default_hooks.checkpoint.save_best == 'average_mAP'
    else:
        assert cfg.default_hooks.checkpoint.save_best is None
    assert cfg.default_hooks.checkpoint_selection_check.on_test_split == 'error'


@pytest.mark.parametrize('config,forced,shared', [
    ('configs/head_only/actionformer_i3d_thumos14_features.py', 'auto', 212),
    ('configs/head_only/actionformer_i3d_thumos14_features_heldout-val.py', None, 0)])
def test_thumos_configs_on_the_real_annotation(tmp_path, config, forced, shared):
    """With data_root moved to a folder holding the real thumos14.json, the evaluators
    load it; the default's validation is the 212 test videos (save_best would be
    refused), the held-out variant's 20 training videos share none."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    root = _real_data_root(tmp_path, 'thumos14.json', osp.join(SHARED_DATA, 'thumos14.json'))
    init_default_scope('mmaction')
    val = TALMetric(**{k: v for k, v in dict(cfg.val_evaluator, data_root=root).items()
                       if k != 'type'})
    n, why = shared_test_videos([val], [dict(cfg.test_evaluator, data_root=root)])
    assert n == shared, why
    assert len(val.ground_truth) == (212 if shared else 20)
