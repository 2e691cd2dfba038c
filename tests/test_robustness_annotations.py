"""Issue 16, point 4: annotation values are validated in the one loader (datasets, the
metric and tools/eval_results.py), each error naming the file, the video and the field;
a file much shorter than its annotated duration is a warning naming it (an error with
``duration_check='error'``)."""
import copy
import json
import logging
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.logging import MMLogger

from losa_plugin.datasets import TALDataset
from losa_plugin.datasets.tal_annotation import load_tal_annotations

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))

GOOD = {
    'v1': dict(subset='Test', duration=30.0, fps=30.0, annotations=[
        dict(label='Jump', label_id=0, segment=[1.0, 4.5]),
        dict(label='Wave', label_id=1, segment=[10.0, 10.0])]),   # zero length: kept
    'v2': dict(subset='Test', duration=12.0, fps=25.0, annotations=[
        dict(label='Wave', label_id=1, segment=[2, 11.5])]),       # ints are numbers
}


def _write(tmp_path, database, name='ann.json'):
    path = str(tmp_path / name)
    with open(path, 'w') as f:
        json.dump(dict(database=database), f)
    return path


def _bad(**changes):
    """GOOD with ``changes`` applied to video v2: dotted keys into its entry."""
    db = copy.deepcopy(GOOD)
    for key, value in changes.items():
        target = db['v2']
        parts = key.split('.')
        for p in parts[:-1]:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is KeyError:
            del target[parts[-1]]
        else:
            target[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return db


CASES = [
    # (changes to video v2, the field the message must name, a phrase of the message)
    (dict(fps=0), "'fps'", 'must be > 0'),
    (dict(fps=-25.0), "'fps'", 'must be > 0'),
    (dict(fps='thirty'), "'fps'", "expected a number, got str 'thirty'"),
    (dict(duration=-5.0), "'duration'", 'must be > 0'),
    (dict(duration='12'), "'duration'", 'expected a number'),
    (dict(duration=float('nan')), "'duration'", 'finite'),
    (dict(**{'annotations.0.segment': [-1.0, 3.0]}), "'annotations[0].segment'",
     'starts before 0 s'),
    (dict(**{'annotations.0.segment': [8.0, 3.0]}), "'annotations[0].segment'",
     'end 3.0 < start 8.0'),
    (dict(**{'annotations.0.segment': [1.0, 'ten']}), "'annotations[0].segment[1]'",
     'expected a number'),
    (dict(**{'annotations.0.segment': [1.0]}), "'annotations[0].segment'",
     'must be [start, end]'),
    (dict(**{'annotations.0.label': KeyError}), "'annotations[0].label'", 'missing'),
    (dict(**{'annotations.0.label': 3}), "'annotations[0].label'", 'expected a string'),
    (dict(**{'annotations.0.label_id': '1'}), "'annotations[0].label_id'",
     'expected an integer'),
    (dict(annotations={'label': 'Wave'}), "'annotations'", 'expected a list'),
    (dict(**{'annotations.0': 'Wave'}), "'annotations[0]'", 'expected an object'),
]


def test_good_file_loads(tmp_path):
    videos = load_tal_annotations(_write(tmp_path, GOOD), 'Test')
    assert [v['video_id'] for v in videos] == ['v1', 'v2']
    np.testing.assert_array_equal(videos[0]['segments'], [[1.0, 4.5], [10.0, 10.0]])
    assert videos[1]['fps'] == 25.0


@pytest.mark.parametrize('changes,field,phrase', CASES,
                         ids=[f'{list(c)[0]}={list(c.values())[0]!r}' for c, _, _ in CASES])
def test_bad_values_name_file_video_field(tmp_path, changes, field, phrase):
    ann = _write(tmp_path, _bad(**changes))
    with pytest.raises(ValueError) as err:
        load_tal_annotations(ann, 'Test')
    msg = str(err.value)
    assert ann in msg and "video 'v2'" in msg and field in msg and phrase in msg, msg


def test_labels_of_other_subsets_are_checked_too(tmp_path):
    # class names are derived from every entry, so a malformed label anywhere matters
    db = copy.deepcopy(GOOD)
    db['v3'] = dict(subset='Validation', duration=5.0, annotations=[dict(segment=[0, 1])])
    ann = _write(tmp_path, db)
    with pytest.raises(ValueError, match=r"video 'v3' field 'annotations\[0\].label'"):
        load_tal_annotations(ann, 'Test')


def test_eval_results_refuses_a_bad_annotation(tmp_path):
    """tools/eval_results.py printed an mAP for a segment with end < start."""
    ann = _write(tmp_path, _bad(**{'annotations.0.segment': [8.0, 3.0]}))
    results = str(tmp_path / 'results.json')
    with open(results, 'w') as f:
        json.dump(dict(results={'v1': [dict(label='Jump', score=0.9, segment=[1.0, 4.5])],
                                'v2': [dict(label='Wave', score=0.8, segment=[3.0, 8.0])]}), f)
    proc = subprocess.run([sys.executable, 'tools/eval_results.py', ann, results,
                           '--subset', 'Test', '--tious', '0.5'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout
    assert "video 'v2'" in proc.stderr and 'end 3.0 < start 8.0' in proc.stderr, proc.stderr[-2000:]


# ------------------------------------------------- file shorter than its duration
def _feature_dataset(tmp_path, steps, **kwargs):
    """One video of 30 s at 30 fps; its feature file holds ``steps`` steps of stride 4
    (frames_per_feature 16): it covers ((steps - 1) * 4 + 16) / 30 s."""
    db = {'v1': dict(subset='Test', duration=30.0, fps=30.0,
                     annotations=[dict(label='Jump', segment=[1.0, 25.0])])}
    ann = _write(tmp_path, db)
    feat_dir = tmp_path / 'feat'
    feat_dir.mkdir(exist_ok=True)
    np.save(feat_dir / 'v1.npy', np.zeros((steps, 4), np.float32))
    return lambda: TALDataset(ann_file=ann, subset='Test', data_prefix=dict(feature=str(feat_dir)),
                              feature_stride=4, frames_per_feature=16, **kwargs)


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


@pytest.fixture
def warnings_seen():
    logger = MMLogger.get_current_instance()
    handler = _Capture()
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def test_short_feature_file_is_a_warning_naming_it(tmp_path, warnings_seen):
    # 100 steps cover (99 * 4 + 16) / 30 = 13.73 s of the annotated 30 s
    _feature_dataset(tmp_path, 100)()
    hits = [m for m in warnings_seen if "video 'v1'" in m and 'shorter' in m]
    assert hits and '13.73 s of 30.00 s' in hits[0], warnings_seen


def test_short_feature_file_with_error_flag(tmp_path):
    with pytest.raises(ValueError, match=r"video 'v1'.*covers 13.73 s of 30.00 s"):
        _feature_dataset(tmp_path, 100, duration_check='error')()


def test_tolerance_boundary(tmp_path, warnings_seen):
    # 10 % tolerance: 27 s must be covered; 200 steps cover (199 * 4 + 16) / 30 =
    # 27.07 s, 199 steps 26.93 s
    _feature_dataset(tmp_path, 200, duration_check='error')()
    with pytest.raises(ValueError, match='26.93 s of 30.00 s'):
        _feature_dataset(tmp_path, 199, duration_check='error')()
    _feature_dataset(tmp_path, 100, duration_check='off')()
    assert not [m for m in warnings_seen if 'shorter' in m]


def test_short_video_file_is_a_warning(tmp_path, warnings_seen):
    from tests.conftest import SHARED_DATA
    from losa_plugin.datasets.video_reader import probe_video
    video = osp.join(SHARED_DATA, 'test.mp4')
    info = probe_video(video)
    folder = tmp_path / 'videos'
    folder.mkdir()
    os.symlink(video, folder / 'v1.mp4')
    db = {'v1': dict(subset='Test', duration=info.duration * 3, fps=info.fps,
                     annotations=[dict(label='Jump', segment=[0.5, 1.5])])}
    ann = _write(tmp_path, db)
    ds = TALDataset(ann_file=ann, subset='Test', input_type='video',
                    data_prefix=dict(video=str(folder)))
    hits = [m for m in warnings_seen if "video 'v1'" in m and 'shorter' in m]
    assert hits and f'covers {info.duration:.2f} s of {3 * info.duration:.2f} s' in hits[0]
    assert ds.get_data_info(0)['total_frames'] == info.num_frames  # from the file
