"""The annotation layouts researchers have load to the same videos, segments, classes and
fps as the reference layout of the same videos.

Fixtures are written here from real entries: a few THUMOS-14 videos of ActionFormer's
``thumos14.json`` (at 24, 25, 29.97 and 30 fps) rewritten in OpenTAD's layout
(``training`` / ``validation`` subsets, a frame count instead of ``fps``, no
``label_id``, ``Ambiguous`` segments), and a few ActivityNet-v1.3 validation videos of
the official file rewritten in MMAction2's BMN layout (``v_`` names, ``duration_second``
/ ``duration_frame``, no subsets)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmaction.registry import DATASETS

from losa_plugin.datasets.tal_annotation import load_tal_annotations
from losa_plugin.evaluation import TALMetric
from tests.conftest import SHARED_DATA

THUMOS = osp.join(SHARED_DATA, 'thumos14.json')
ANET = osp.join(SHARED_DATA, 'anet13_val.json')
STRIDE, FRAMES = 4, 16
# two videos at each rate, one per subset (Validation = training videos, Test = test)
THUMOS_VIDEOS = ['video_validation_0000411', 'video_test_0001207',    # 24 fps
                 'video_validation_0000311', 'video_test_0000950',    # 25 fps
                 'video_validation_0000209', 'video_test_0000273',    # 29.97 fps
                 'video_validation_0000051', 'video_test_0000004']    # 30 fps
OPENTAD_SUBSET = {'Validation': 'training', 'Test': 'validation'}


def _write(path, content):
    with open(path, 'w') as f:
        json.dump(content, f)
    return str(path)


def _features(folder, entries, prefix=''):
    """A [T, 2] feature file per video covering its whole duration."""
    os.makedirs(folder, exist_ok=True)
    for vid, (duration, fps) in entries.items():
        steps = int(np.ceil((duration * fps - FRAMES) / STRIDE)) + 1
        np.save(osp.join(folder, prefix + vid + '.npy'), np.zeros((steps, 2), np.float32))
    return str(folder)


@pytest.fixture(scope='module')
def thumos(tmp_path_factory):
    """(reference file, OpenTAD file, feature folder, entries). Both files hold every
    video (the class list is derived from the whole file); those outside THUMOS_VIDEOS
    sit in a subset that is not loaded."""
    tmp = tmp_path_factory.mktemp('thumos_layouts')
    with open(THUMOS) as f:
        db = json.load(f)['database']
    reference = {v: (e if v in THUMOS_VIDEOS else dict(e, subset='unused'))
                 for v, e in db.items()}
    rng = np.random.default_rng(0)
    opentad = {}
    for vid, e in reference.items():
        anns = [dict(label=a['label'], segment=a['segment']) for a in e['annotations']]
        for _ in range(2):  # Ambiguous parts, as OpenTAD's file marks them
            start = float(rng.uniform(0, e['duration'] - 2))
            anns.insert(int(rng.integers(0, len(anns) + 1)),
                        dict(label='Ambiguous', segment=[start, start + 1.5]))
        opentad[vid] = dict(subset=OPENTAD_SUBSET.get(e['subset'], 'unused'),
                            duration=e['duration'],
                            frame=int(round(e['duration'] * e['fps'])), annotations=anns)
    feats = _features(tmp / 'feat', {v: (db[v]['duration'], db[v]['fps'])
                                     for v in THUMOS_VIDEOS})
    return (_write(tmp / 'thumos14.json', dict(version='x', database=reference)),
            _write(tmp / 'thumos_14_anno.json', dict(database=opentad)), feats, reference)


def _dataset(ann_file, feats, test_mode, **kw):
    cfg = dict(type='THUMOS14Dataset', ann_file=ann_file, data_prefix=dict(feature=feats),
               test_mode=test_mode, **kw)
    return DATASETS.build(cfg)


def _infos(ds):
    return {ds.get_data_info(i)['video_id']: ds.get_data_info(i) for i in range(len(ds))}


@pytest.mark.parametrize('test_mode', [False, True], ids=['train', 'test'])
def test_opentad_thumos_loads_as_actionformer(thumos, test_mode):
    reference, opentad, feats, entries = thumos
    ref, other = _dataset(reference, feats, test_mode), _dataset(opentad, feats, test_mode)
    assert other.metainfo['classes'] == ref.metainfo['classes']
    assert len(ref.metainfo['classes']) == 20 and 'Ambiguous' not in other.metainfo['classes']
    a, b = _infos(ref), _infos(other)
    subset = 'Test' if test_mode else 'Validation'
    assert list(a) == list(b)  # file order
    assert sorted(a) == sorted(v for v in THUMOS_VIDEOS if entries[v]['subset'] == subset)
    for vid in a:
        np.testing.assert_array_equal(b[vid]['segments'], a[vid]['segments'])
        np.testing.assert_array_equal(b[vid]['labels'], a[vid]['labels'])
        # frame count / duration: within half a frame over the video of the stated rate
        assert abs(b[vid]['fps'] - entries[vid]['fps']) <= 0.5 / entries[vid]['duration']
        assert a[vid]['fps'] == entries[vid]['fps']


def test_opentad_thumos_metric_drops_ambiguous_as_the_dataset(thumos):
    reference, opentad, _, entries = thumos
    ref = TALMetric(ann_file=reference, subset='Test').ground_truth
    other = TALMetric(ann_file=opentad, subset='Test').ground_truth  # found as 'validation'
    assert [v['video_id'] for v in other] == [v['video_id'] for v in ref]
    for r, o in zip(ref, other):
        np.testing.assert_array_equal(o['segments'], r['segments'])
        np.testing.assert_array_equal(o['labels'], r['labels'])
    # the labels are the reference's label_ids
    first = entries['video_test_0000004']['annotations'][0]
    gt = next(v for v in other if v['video_id'] == 'video_test_0000004')
    assert gt['labels'][0] == first['label_id']


@pytest.fixture(scope='module')
def anet(tmp_path_factory):
    """(official file, MMAction2 file, feature folder, rates) for 6 validation videos."""
    tmp = tmp_path_factory.mktemp('anet_layouts')
    with open(ANET) as f:
        db = json.load(f)['database']
    vids = [v for v, e in db.items() if e['duration'] is not None][:6]
    official = dict(version='VERSION 1.3', taxonomy=[], database={v: db[v] for v in vids})
    rates = dict(zip(vids, [30.0, 29.97, 25.0, 24.0, 15.0, 30.0]))
    mmaction = {}
    for v in vids:
        d = db[v]['duration']
        n = int(round(d * rates[v]))
        mmaction['v_' + v] = dict(duration_second=d, duration_frame=n, feature_frame=n - n % 16,
                                  fps=round(rates[v]), rfps=n / d,
                                  annotations=[dict(segment=a['segment'], label=a['label'])
                                               for a in db[v]['annotations']])
    feats = _features(tmp / 'feat', {v: (db[v]['duration'], 15.0) for v in vids}, prefix='v_')
    return (_write(tmp / 'activity_net.v1-3.min.json', official),
            _write(tmp / 'anet_anno_val.json', mmaction), feats, mmaction)


def test_mmaction2_activitynet_loads_as_official(anet):
    official, mmaction, feats, raw = anet
    kw = dict(type='ActivityNetTALDataset', data_prefix=dict(feature=feats), file_prefix='v_',
              default_fps=15.0, test_mode=True)
    ref = DATASETS.build(dict(kw, ann_file=official))
    other = DATASETS.build(dict(kw, ann_file=mmaction))  # no subsets: the file is one
    assert other.metainfo['classes'] == ref.metainfo['classes']
    a, b = _infos(ref), _infos(other)
    assert list(b) == list(a)  # 'v_' removed: the official ids
    for vid in a:
        assert b[vid]['feature_path'] == a[vid]['feature_path']
        assert b[vid]['duration'] == a[vid]['duration']
        np.testing.assert_array_equal(b[vid]['segments'], a[vid]['segments'])
        np.testing.assert_array_equal(b[vid]['labels'], a[vid]['labels'])
        # the official file has no fps (default_fps); MMAction2's is frames / seconds
        assert a[vid]['fps'] == 15.0
        assert b[vid]['fps'] == pytest.approx(raw['v_' + vid]['rfps'], rel=1e-12)
    ref_gt = TALMetric(ann_file=official, subset='validation').ground_truth
    other_gt = TALMetric(ann_file=mmaction, subset='validation').ground_truth
    assert [v['video_id'] for v in other_gt] == [v['video_id'] for v in ref_gt]
    for r, o in zip(ref_gt, other_gt):
        np.testing.assert_array_equal(o['segments'], r['segments'])


def test_subset_annotation_maps_classes_by_the_full_list(tmp_path):
    """A file holding only some classes: label_id 2 stays index 2 (it became 0), and a
    given class list maps by name."""
    full = ['Jump', 'Run', 'Swim', 'Throw']
    db = {'a': dict(subset='Test', duration=9.0, fps=30.0, annotations=[
        dict(label='Swim', label_id=2, segment=[1.0, 2.0]),
        dict(label='Throw', label_id=3, segment=[3.0, 4.0])])}
    ann = _write(tmp_path / 'sub.json', dict(database=db))
    derived = load_tal_annotations(ann, 'Test')[0]
    assert derived['labels'].tolist() == [2, 3]
    assert derived['class_names'][2:] == ['Swim', 'Throw']
    given = load_tal_annotations(ann, 'Test', class_names=full)[0]
    assert given['labels'].tolist() == [2, 3] and given['class_names'] == full
    shuffled = ['Throw', 'Swim', 'Run', 'Jump']  # names decide, not the file's ids
    assert load_tal_annotations(ann, 'Test', class_names=shuffled)[0]['labels'].tolist() \
        == [1, 0]


def test_unknown_layout_and_missing_class_file_name_what_is_missing(tmp_path):
    ann = _write(tmp_path / 'odd.json', dict(videos={'a': {}}))
    with pytest.raises(ValueError, match=r"odd.json: not a known annotation layout.*'database'"):
        load_tal_annotations(ann, 'Test')
    good = _write(tmp_path / 'good.json', dict(database={'a': dict(
        subset='Test', duration=5.0, annotations=[dict(label='Run', segment=[1, 2])])}))
    with pytest.raises(FileNotFoundError, match=r'class list file not found: .*nope.txt'):
        load_tal_annotations(good, 'Test', class_names=str(tmp_path / 'nope.txt'))
