"""TALDataset / THUMOS14Dataset / ActivityNetTALDataset on the real annotation files,
with tiny generated feature files."""
import copy
import json
import math
import os

import numpy as np
import pytest
from mmaction.registry import DATASETS

from tests.conftest import SHARED_DATA

THUMOS = os.path.join(SHARED_DATA, 'thumos14.json')
ANET = os.path.join(SHARED_DATA, 'anet13_val.json')
ANET_CLASSES = os.path.join(SHARED_DATA, 'anet13_classes.txt')
STRIDE, FPF = 4, 16


def num_steps(duration: float, fps: float) -> int:
    """Features of a clip of FPF frames every STRIDE frames (ActionFormer's I3D pack)."""
    return max(1, (int(round(duration * fps)) - FPF) // STRIDE + 1)


def write_features(folder, database, subsets, channels=2):
    os.makedirs(folder, exist_ok=True)
    for vid, entry in database.items():
        if entry['subset'] not in subsets:
            continue
        t = num_steps(entry['duration'], entry['fps'])
        np.save(os.path.join(folder, vid + '.npy'), np.zeros((t, channels), np.float32))
    return folder


@pytest.fixture(scope='module')
def thumos_db():
    with open(THUMOS) as f:
        return json.load(f)['database']


@pytest.fixture(scope='module')
def feat_dir(tmp_path_factory, thumos_db):
    return write_features(str(tmp_path_factory.mktemp('thumos_feats')), thumos_db,
                          ('Validation', 'Test'))


def build(ann_file, feat_dir, **kwargs):
    cfg = dict(type='THUMOS14Dataset', ann_file=ann_file,
               data_prefix=dict(feature=feat_dir))
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def write_db(tmp_path, database, name='ann.json'):
    path = str(tmp_path / name)
    with open(path, 'w') as f:
        json.dump(dict(database=database), f)
    return path


def test_thumos_loads_both_subsets(thumos_db, feat_dir):
    train = build(THUMOS, feat_dir)
    test = build(THUMOS, feat_dir, test_mode=True)
    n_val = sum(e['subset'] == 'Validation' for e in thumos_db.values())
    n_test = sum(e['subset'] == 'Test' for e in thumos_db.values())
    assert len(train) == n_val and len(test) == n_test
    assert {train[i]['video_id'] for i in range(3)} <= {
        k for k, e in thumos_db.items() if e['subset'] == 'Validation'}

    by_id = {}
    for entry in thumos_db.values():
        for ann in entry['annotations']:
            by_id[ann['label_id']] = ann['label']
    expected = tuple(by_id[k] for k in sorted(by_id))
    assert len(expected) == 20
    assert train.metainfo['classes'] == expected

    info = test.get_data_info(0)
    entry = thumos_db[info['video_id']]
    assert info['fps'] == entry['fps'] and info['duration'] == entry['duration']
    assert info['segments'].dtype == np.float32 and info['labels'].dtype == np.int64
    assert info['segments'].shape == (len(entry['annotations']), 2)
    assert [expected[i] for i in info['labels']] == [a['label'] for a in entry['annotations']]
    assert info['feature_path'] == os.path.join(feat_dir, info['video_id'] + '.npy')
    assert info['feature_stride'] == STRIDE and info['frames_per_feature'] == FPF
    assert 'window_start' not in info  # full-length testing


def test_past_duration_segments_clipped_in_training(thumos_db, feat_dir):
    past = [(k, a['segment']) for k, e in thumos_db.items() if e['subset'] == 'Test'
            for a in e['annotations'] if a['segment'][1] > e['duration']]
    assert len(past) == 26  # the known defect of the real file (DESIGN.md)

    train_on_test = build(THUMOS, feat_dir, subset='Test', filter_empty_gt=False)
    assert train_on_test.num_clipped_segments + train_on_test.num_dropped_segments == 26
    n_start_past = sum(s[0] >= thumos_db[k]['duration'] for k, s in past)
    assert train_on_test.num_dropped_segments == n_start_past
    total = 0
    for i in range(len(train_on_test)):
        info = train_on_test.get_data_info(i)
        assert np.all(info['segments'][:, 1] <= info['duration'] + 1e-4)
        total += len(info['segments'])
    n_all = sum(len(e['annotations']) for e in thumos_db.values() if e['subset'] == 'Test')
    assert total == n_all - train_on_test.num_dropped_segments

    # test mode keeps the file's ground truth untouched
    test = build(THUMOS, feat_dir, test_mode=True)
    kept = sum(int((test.get_data_info(i)['segments'][:, 1]
                    > test.get_data_info(i)['duration']).sum()) for i in range(len(test)))
    assert kept == 26


def test_videos_without_usable_gt_filtered_in_training(thumos_db, tmp_path, feat_dir):
    db = copy.deepcopy(thumos_db)
    vids = sorted(k for k, e in db.items() if e['subset'] == 'Validation')
    db[vids[0]]['annotations'] = []
    dur = db[vids[1]]['duration']
    for ann in db[vids[1]]['annotations']:  # everything after the end: dropped
        ann['segment'] = [dur + 1.0, dur + 2.0]
    ann_file = write_db(tmp_path, db)
    train = build(ann_file, feat_dir)
    ids = {train.get_data_info(i)['video_id'] for i in range(len(train))}
    assert train.num_empty_videos == 2 and len(train) == len(vids) - 2
    assert vids[0] not in ids and vids[1] not in ids
    test = build(ann_file, feat_dir, subset='Validation', test_mode=True)
    assert len(test) == len(vids)


def test_test_windows_cover_every_step(thumos_db, feat_dir):
    ds = build(THUMOS, feat_dir, test_mode=True, test_window=dict(size=256, overlap=0.25))
    covered = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert 0 < info['window_len'] <= 256
        covered.setdefault(info['video_id'], []).append(
            (info['window_start'], info['window_len']))
    assert len(covered) == sum(e['subset'] == 'Test' for e in thumos_db.values())
    for vid, windows in covered.items():
        e = thumos_db[vid]
        total = num_steps(e['duration'], e['fps'])
        hit = np.zeros(total, bool)
        for s, n in windows:
            assert s + n <= total
            hit[s:s + n] = True
        assert hit.all(), vid
    assert len(ds) > len(covered)  # long videos were split


# ----------------------------------------------------------------- bad input
def test_missing_feature_file_past_the_allowed_fraction(thumos_db, tmp_path):
    # skipping is tested in test_dataset_missing_files.py; none allowed here
    folder = write_features(str(tmp_path / 'f'), thumos_db, ('Validation',))
    victim = sorted(k for k, e in thumos_db.items() if e['subset'] == 'Validation')[3]
    os.remove(os.path.join(folder, victim + '.npy'))
    with pytest.raises(FileNotFoundError) as err:
        build(THUMOS, folder, max_missing_fraction=0.0)
    msg = str(err.value)
    assert victim in msg and os.path.join(folder, victim + '.npy') in msg
    assert '1 of 200' in msg and 'max_missing_fraction=0.0' in msg


def test_end_before_start(thumos_db, tmp_path, feat_dir):
    db = copy.deepcopy(thumos_db)
    vid = next(k for k, e in db.items() if e['subset'] == 'Validation')
    db[vid]['annotations'][0]['segment'] = [10.0, 5.0]
    ann = write_db(tmp_path, db)
    for test_mode in (False, True):
        with pytest.raises(ValueError) as err:
            build(ann, feat_dir, subset='Validation', test_mode=test_mode)
        msg = str(err.value)
        assert vid in msg and 'segment' in msg and ann in msg and 'end 5.0 < start 10.0' in msg


def test_unknown_label(thumos_db, tmp_path, feat_dir):
    db = copy.deepcopy(thumos_db)
    vid = next(k for k, e in db.items() if e['subset'] == 'Validation')
    db[vid]['annotations'][0]['label'] = 'Juggling'
    db[vid]['annotations'][0]['label_id'] = 99
    ann = write_db(tmp_path, db)
    classes = build(THUMOS, feat_dir).metainfo['classes']
    with pytest.raises(ValueError) as err:
        build(ann, feat_dir, class_names=list(classes))
    assert vid in str(err.value) and "'Juggling'" in str(err.value)


def test_empty_subset(feat_dir):
    with pytest.raises(ValueError) as err:
        build(THUMOS, feat_dir, subset='Train')
    assert "['Train']" in str(err.value) and 'no videos' in str(err.value)


def test_missing_fps(thumos_db, tmp_path, feat_dir):
    db = copy.deepcopy(thumos_db)
    vid = sorted(k for k, e in db.items() if e['subset'] == 'Validation')[5]
    del db[vid]['fps']
    ann = write_db(tmp_path, db)
    with pytest.raises(ValueError) as err:
        build(ann, feat_dir)
    assert vid in str(err.value) and "'fps'" in str(err.value)
    ds = build(ann, feat_dir, default_fps=25.0)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert next(i for i in infos if i['video_id'] == vid)['fps'] == 25.0
    assert all(i['fps'] == thumos_db[i['video_id']]['fps'] for i in infos
               if i['video_id'] != vid)


def test_bad_arguments(feat_dir):
    with pytest.raises(ValueError, match='input_type'):
        build(THUMOS, feat_dir, input_type='audio')
    with pytest.raises(ValueError, match="data_prefix needs the key 'video'"):
        build(THUMOS, feat_dir, input_type='video')


# ----------------------------------------------------------------- other datasets
def test_video_input_entries(thumos_db, tmp_path):
    folder = tmp_path / 'videos'
    folder.mkdir()
    vids = sorted(k for k, e in thumos_db.items() if e['subset'] == 'Test')[:3]
    db = {k: thumos_db[k] for k in vids}
    for k in vids:
        (folder / (k + '.mp4')).write_bytes(b'')  # only existence is checked here
    ds = DATASETS.build(dict(type='THUMOS14Dataset', ann_file=write_db(tmp_path, db),
                             input_type='video', data_prefix=dict(video=str(folder)),
                             test_mode=True, feature_stride=8, frames_per_feature=16))
    for i, k in enumerate(vids):
        info = ds.get_data_info(i)
        assert info['video_path'] == str(folder / (k + '.mp4'))
        assert info['total_frames'] == round(db[k]['duration'] * db[k]['fps'])


def test_video_test_windows(thumos_db, tmp_path):
    """Frame windows cover the video's frames: counted by video_reader.probe_video when
    that module exists (a real 300-frame clip stands in for each video), else estimated
    as round(duration * fps) from the annotation."""
    folder = tmp_path / 'videos'
    folder.mkdir()
    vids = sorted(k for k, e in thumos_db.items() if e['subset'] == 'Test')[:2]
    for k in vids:
        os.symlink(os.path.join(SHARED_DATA, 'test.mp4'), folder / (k + '.mp4'))
    ds = DATASETS.build(dict(type='THUMOS14Dataset', ann_file=write_db(
        tmp_path, {k: thumos_db[k] for k in vids}), input_type='video',
        data_prefix=dict(video=str(folder)), test_mode=True,
        test_window=dict(size=128, overlap=0.5)))
    for k in vids:
        infos = [i for i in (ds.get_data_info(j) for j in range(len(ds)))
                 if i['video_id'] == k]
        total = infos[0]['total_frames']
        hint = round(thumos_db[k]['duration'] * thumos_db[k]['fps'])
        assert total in (300, hint)
        hit = np.zeros(total, bool)
        for i in infos:
            assert i['window_len'] == min(128, total)
            hit[i['window_start']:i['window_start'] + i['window_len']] = True
        assert hit.all()


def test_activitynet_defaults(tmp_path):
    with open(ANET) as f:
        db = json.load(f)['database']
    keep = [k for k, e in db.items() if e['duration'] is not None][:4]
    small = {k: db[k] for k in keep}
    folder = tmp_path / 'feats'
    folder.mkdir()
    for k in keep:
        np.save(folder / ('v_' + k + '.npy'), np.zeros((7, 3), np.float32))
    ann = write_db(tmp_path, small)
    cfg = dict(type='ActivityNetTALDataset', ann_file=ann, file_prefix='v_',
               data_prefix=dict(feature=str(folder)), class_names=ANET_CLASSES)
    with pytest.raises(ValueError, match="no field 'fps'"):
        DATASETS.build(dict(cfg, test_mode=True))
    ds = DATASETS.build(dict(cfg, test_mode=True, default_fps=15.0))
    with open(ANET_CLASSES) as f:
        names = [line.strip() for line in f if line.strip()]
    assert ds.metainfo['classes'] == tuple(names) and len(names) == 200
    assert len(ds) == 4 and ds.subset == 'validation'
    info = ds.get_data_info(0)
    assert info['feature_stride'] == 16 and info['fps'] == 15.0
    labels = [a['label'] for a in small[keep[0]]['annotations']]
    assert [names[i] for i in info['labels']] == labels
    # without a class file: sorted names found in the file
    ds2 = DATASETS.build(dict(cfg, class_names=None, test_mode=True, default_fps=15.0))
    found = sorted({a['label'] for e in small.values() for a in e['annotations']})
    assert ds2.metainfo['classes'] == tuple(found)
