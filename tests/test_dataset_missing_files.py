"""Missing video / feature files: skipped with a warning naming them and a count, an
optional block list, an error past ``max_missing_fraction``; several video extensions.
"""
import json
import logging
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.logging import MMLogger

from losa_plugin.datasets import TALDataset
from tests.conftest import SHARED_DATA

NUM = 20


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelno, record.getMessage()))


@pytest.fixture
def logs():
    logger = MMLogger.get_current_instance()
    handler = _Capture()
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


@pytest.fixture
def root(tmp_path):
    """data_root with annotations/ann.json (20 training videos of 20 s at 30 fps) and a
    feature file for each in features/."""
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'features').mkdir()
    db = {f'v{i}': dict(subset='Validation', duration=20.0, fps=30.0, annotations=[
        dict(label='Jump', segment=[2.0, 5.0])]) for i in range(NUM)}
    with open(tmp_path / 'annotations' / 'ann.json', 'w') as f:
        json.dump(dict(database=db), f)
    steps = (20 * 30 - 16) // 4 + 1
    for vid in db:
        np.save(tmp_path / 'features' / f'{vid}.npy', np.zeros((steps, 2), np.float32))
    return tmp_path


def _build(root, **kw):
    return TALDataset(data_root=str(root), ann_file='annotations/ann.json',
                      subset='Validation', data_prefix=dict(feature='features'), **kw)


def _ids(ds):
    return [ds.get_data_info(i)['video_id'] for i in range(len(ds))]


def test_missing_file_is_skipped_and_named(root, logs):
    os.remove(root / 'features' / 'v3.npy')
    os.remove(root / 'features' / 'v7.npy')
    ds = _build(root)
    assert _ids(ds) == [f'v{i}' for i in range(NUM) if i not in (3, 7)]
    warnings = [m for level, m in logs if level == logging.WARNING and 'missing' in m]
    assert len(warnings) == 1, logs
    assert '2 of 20 feature files are missing' in warnings[0]  # 10 %: allowed
    for vid in ('v3', 'v7'):
        assert f"video '{vid}': {osp.join(root, 'features', vid + '.npy')}" in warnings[0]


def test_too_many_missing_is_an_error(root):
    for i in range(3):
        os.remove(root / 'features' / f'v{i}.npy')
    assert len(_build(root, max_missing_fraction=0.15)) == NUM - 3
    with pytest.raises(FileNotFoundError, match=r'3 of 20 feature files are missing.*'
                                                 r'max_missing_fraction=0.1'):
        _build(root)


@pytest.mark.parametrize('form', ['list', 'text', 'json'])
def test_block_list_leaves_videos_out_without_a_warning(root, logs, form):
    os.remove(root / 'features' / 'v4.npy')
    blocked = ['v4', 'v5']
    if form == 'text':
        (root / 'annotations' / 'blocked.txt').write_text('v4\nv5\n')
        spec = 'annotations/blocked.txt'  # follows data_root
    elif form == 'json':
        (root / 'annotations' / 'blocked.json').write_text(json.dumps(blocked))
        spec = 'annotations/blocked.json'
    else:
        spec = blocked
    ds = _build(root, block_list=spec)
    assert _ids(ds) == [f'v{i}' for i in range(NUM) if i not in (4, 5)]
    assert not [m for level, m in logs if level == logging.WARNING]
    assert any('left out 2 videos' in m for _, m in logs), logs
    with pytest.raises(FileNotFoundError, match='block_list file not found: .*nope.txt'):
        _build(root, block_list='annotations/nope.txt')


def test_several_video_extensions(tmp_path):
    """ActivityNet's YouTube videos come as .mp4, .mkv or .webm: the first that exists."""
    video = osp.join(SHARED_DATA, 'test.mp4')
    folder = tmp_path / 'videos'
    folder.mkdir()
    os.symlink(video, folder / 'v_a.mp4')
    os.symlink(video, folder / 'v_b.mkv')
    os.symlink(video, folder / 'v_c.mkv')
    os.symlink(video, folder / 'v_c.webm')
    db = {v: dict(subset='training', duration=10.0, annotations=[
        dict(label='Run', segment=[1.0, 2.0])]) for v in 'abc'}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    ds = TALDataset(ann_file=str(ann), subset='training', input_type='video',
                    file_prefix='v_', video_ext=('.mp4', '.mkv', '.webm'),
                    data_prefix=dict(video=str(folder)))
    paths = [ds.get_data_info(i)['video_path'] for i in range(len(ds))]
    assert paths == [str(folder / 'v_a.mp4'), str(folder / 'v_b.mkv'),
                     str(folder / 'v_c.mkv')]
    assert ds.get_data_info(0)['fps'] == 30.0  # no fps in the file: the video's own
    with pytest.raises(FileNotFoundError, match=r"2 of 3 video files.*video 'b': "
                                                r'.*v_b.mp4'):
        TALDataset(ann_file=str(ann), subset='training', input_type='video',
                   file_prefix='v_', data_prefix=dict(video=str(folder)))
