"""Issue 16, point 5: the head's class count is checked against the annotation before
training starts, and a raw-video test window shorter than one clip is refused
(docs/robustness.md)."""
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from losa_plugin.datasets import TALDataset
from losa_plugin.engine import add_plugin_hooks
from losa_plugin.engine.hooks.data_model_check_hook import check_test_window
from tests.conftest import SHARED_DATA
from tests.fixtures.planted_features import (CLASSES, tiny_feature_config,
                                             write_planted_features)


class _CountIters(Hook):
    def __init__(self):
        self.n = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.n += 1


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_planted_features(str(tmp_path_factory.mktemp('d')), num_videos=2, length=48)


@pytest.mark.parametrize('num_classes', [len(CLASSES) + 2, len(CLASSES) - 1])
def test_class_count_checked_before_the_first_step(data, tmp_path, num_classes):
    cfg = Config(tiny_feature_config(data['ann_file'], data['feature_dir'],
                                     str(tmp_path / 'w'), max_epochs=2))
    cfg.model.head.num_classes = num_classes
    add_plugin_hooks(cfg)
    runner = Runner.from_cfg(cfg)
    count = _CountIters()
    runner.register_hook(count)
    with pytest.raises(ValueError) as err:
        runner.train()
    msg = str(err.value)
    assert f'model.head.num_classes={num_classes}' in msg and data['ann_file'] in msg
    assert f'has {len(CLASSES)} classes' in msg and "'Wave'" in msg, msg
    assert count.n == 0 and not osp.exists(tmp_path / 'w' / 'epoch_1.pth')


def test_matching_class_count_trains(data, tmp_path):
    cfg = Config(tiny_feature_config(data['ann_file'], data['feature_dir'],
                                     str(tmp_path / 'w'), max_epochs=1))
    add_plugin_hooks(cfg)
    Runner.from_cfg(cfg).train()
    assert osp.exists(tmp_path / 'w' / 'epoch_1.pth')


@pytest.fixture(scope='module')
def video_ann(tmp_path_factory):
    import json
    from losa_plugin.datasets.video_reader import probe_video
    tmp = tmp_path_factory.mktemp('v')
    video = osp.join(SHARED_DATA, 'test.mp4')
    info = probe_video(video)
    os.makedirs(tmp / 'videos')
    os.symlink(video, tmp / 'videos' / 'v1.mp4')
    ann = str(tmp / 'ann.json')
    with open(ann, 'w') as f:
        json.dump(dict(database={'v1': dict(subset='Test', duration=info.duration,
                                            fps=info.fps, annotations=[
                                                dict(label='Jump', segment=[0.5, 1.5])])}), f)
    return ann, str(tmp / 'videos'), info


def _video_test_set(video_ann, size):
    ann, folder, _ = video_ann
    init_default_scope('mmaction')
    return TALDataset(ann_file=ann, subset='Test', input_type='video', test_mode=True,
                      data_prefix=dict(video=folder), test_window=dict(size=size),
                      pipeline=[dict(type='SampleVideoWindow', clip_len=16, frame_interval=2,
                                     num_clips=4, test_mode=True)])


def test_test_window_shorter_than_a_clip_is_refused(video_ann):
    assert video_ann[2].num_frames > 64  # the video is longer than a clip
    ds = _video_test_set(video_ann, size=24)  # a clip spans 16 x 2 = 32 frames
    with pytest.raises(ValueError, match=r'test_window.size=24 frames is shorter than one '
                                         r'clip .*clip_len=16 x frame_interval=2 = 32'):
        check_test_window(ds, 'val')
    # and the transform refuses such a window itself (a dataset used without the hook)
    with pytest.raises(ValueError, match='test window of 24 frames is shorter than one clip'):
        ds[0]
    ok = _video_test_set(video_ann, size=32)
    check_test_window(ok, 'val')
    first = ok[0]  # 32 frames every 2nd: one full clip of 16 sampled frames
    assert first['valid_len'] == 16 and len(first['frame_inds']) == 16
