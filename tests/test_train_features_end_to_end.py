"""ActionFormer through the Runner on a generated feature dataset: it must overfit."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from tests.fixtures.planted_features import tiny_feature_config, write_planted_features


@pytest.fixture(scope='module')
def planted(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('planted'))
    return write_planted_features(root)


def test_actionformer_overfits_planted_features(planted, tmp_path):
    cfg = Config(tiny_feature_config(planted['ann_file'], planted['feature_dir'],
                                     str(tmp_path / 'work'), max_epochs=40))
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert metrics['mAP@0.50'] >= 0.9, metrics
    # the validation also wrote checkpoints each epoch
    assert osp.isfile(osp.join(str(tmp_path / 'work'), 'epoch_40.pth'))
