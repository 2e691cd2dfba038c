"""The synthetic dataset: determinism, decodability, annotation consistency, and that
the labelled motion is really in the pixels."""
import json
import os.path as osp
from dataclasses import replace

import numpy as np
import pytest

decord = pytest.importorskip('decord')
pytest.importorskip('av')

from losa_plugin.datasets.tal_annotation import load_tal_annotations  # noqa: E402
from losa_plugin.synthetic import (MOTIONS, SyntheticConfig, generate_trimmed,  # noqa: E402
                                   generate_untrimmed, summarize_untrimmed)

CLIP_LEN = 16
# short videos keep the test fast; actions still span sub-clip to multi-clip lengths
SMALL = SyntheticConfig(video_duration=(12.0, 18.0))
# nothing but the actors: one object on screen at a time, on a still, noiseless backdrop
CLEAN = replace(SMALL, classes=tuple(MOTIONS), static_distractors=(0, 0),
                moving_distractors=(0, 0), camera_jitter=0.0, noise_std=0.0,
                texture_contrast=0.0, illumination_drift=0.0, overlap_prob=0.0,
                idle_lead=(0.0, 0.0), idle_tail=(0.0, 0.0), gap=(1.0, 2.0),
                action_duration=(0.5, 4.0))


def decode(path: str) -> np.ndarray:
    vr = decord.VideoReader(path, num_threads=1)
    return vr.get_batch(list(range(len(vr)))).asnumpy()


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp('synthetic')
    return generate_untrimmed(str(out / 'a'), 6, seed=7, cfg=SMALL)


def test_deterministic_by_seed(tmp_path, small_set):
    again = generate_untrimmed(str(tmp_path / 'b'), 6, seed=7, cfg=SMALL)
    other = generate_untrimmed(str(tmp_path / 'c'), 2, seed=8, cfg=SMALL)
    with open(small_set) as f1, open(again) as f2, open(other) as f3:
        text1, text2, text3 = f1.read(), f2.read(), f3.read()
    assert text1 == text2
    db1, db3 = json.loads(text1)['database'], json.loads(text3)['database']
    vid = 'video_validation_0000001'
    assert db1[vid] != db3[vid]
    frames1 = decode(osp.join(osp.dirname(small_set), 'videos', vid + '.mp4'))
    frames2 = decode(osp.join(osp.dirname(again), 'videos', vid + '.mp4'))
    frames3 = decode(osp.join(osp.dirname(other), 'videos', vid + '.mp4'))
    np.testing.assert_array_equal(frames1, frames2)
    n = min(len(frames1), len(frames3))
    assert np.abs(frames1[:n].astype(int) - frames3[:n]).mean() > 5


def test_video_index_is_stable_across_set_sizes(tmp_path, small_set):
    fewer = generate_untrimmed(str(tmp_path / 'd'), 2, seed=7, cfg=SMALL)
    with open(small_set) as f1, open(fewer) as f2:
        db_all, db_few = json.load(f1)['database'], json.load(f2)['database']
    for vid in db_few:
        assert db_few[vid] == db_all[vid]


def test_decord_reads_declared_fps_and_frames(small_set):
    with open(small_set) as f:
        db = json.load(f)['database']
    for vid, entry in db.items():
        vr = decord.VideoReader(osp.join(osp.dirname(small_set), 'videos', vid + '.mp4'))
        assert len(vr) == round(entry['duration'] * entry['fps'])
        assert abs(vr.get_avg_fps() - entry['fps']) < 1e-6
        assert vr[0].shape == (SMALL.height, SMALL.width, 3)


def test_annotations_consistent(small_set):
    with open(small_set) as f:
        db = json.load(f)['database']
    lengths_frames = []
    for vid, e in db.items():
        assert e['subset'] in ('Validation', 'Test')
        assert e['annotations'], vid
        for a in e['annotations']:
            s, t = a['segment']
            fs, fe = a['segment(frames)']
            assert 0 <= s < t <= e['duration'], (vid, a)
            assert abs(s * e['fps'] - fs) <= 1 and abs(t * e['fps'] - fe) <= 1, (vid, a)
            assert SMALL.classes[a['label_id']] == a['label']
            lengths_frames.append(fe - fs)
    assert {e['subset'] for e in db.values()} == {'Validation', 'Test'}
    assert min(lengths_frames) < CLIP_LEN, 'no action shorter than one clip'
    assert max(lengths_frames) >= 3 * CLIP_LEN, 'no action spanning several clips'


def test_loader_reads_the_file(small_set):
    with open(small_set) as f:
        db = json.load(f)['database']
    for subset in ('Validation', 'Test'):
        videos = load_tal_annotations(small_set, subset)
        assert {v['video_id'] for v in videos} == {k for k, e in db.items()
                                                   if e['subset'] == subset}
        for v in videos:
            assert v['class_names'] == list(SMALL.classes)
            entry = db[v['video_id']]
            np.testing.assert_allclose(v['segments'],
                                       [a['segment'] for a in entry['annotations']])
            assert v['labels'].tolist() == [a['label_id'] for a in entry['annotations']]
            assert v['fps'] == SMALL.fps


def test_summary_counts(small_set):
    summary = summarize_untrimmed(small_set, CLIP_LEN)
    with open(small_set) as f:
        db = json.load(f)['database']
    assert sum(s['videos'] for s in summary.values()) == len(db)
    n_actions = sum(len(e['annotations']) for e in db.values())
    assert sum(s['actions'] for s in summary.values()) == n_actions
    assert sum(sum(s['clip_histogram'].values()) for s in summary.values()) == n_actions


def test_actions_move_more_than_background(small_set):
    """With every nuisance on, pixels change more inside actions than outside."""
    with open(small_set) as f:
        db = json.load(f)['database']
    inside, outside = [], []
    for vid, e in db.items():
        frames = decode(osp.join(osp.dirname(small_set), 'videos', vid + '.mp4')).astype(np.int16)
        # fraction of pixels whose colour jumps well above the noise between frames
        change = (np.abs(np.diff(frames, axis=0)).max(-1) > 30).mean((1, 2))
        active = np.zeros(len(change), dtype=bool)
        for a in e['annotations']:
            fs, fe = map(int, a['segment(frames)'])
            active[fs:fe - 1] = True
        inside.append(change[active].mean())
        outside.append(change[~active].mean())
    inside, outside = np.array(inside), np.array(outside)
    assert inside.mean() > outside.mean()
    assert (inside > outside).mean() > 0.5


# --- the class can be read back from the pixels (clean scenes) ---------------------


def _object_masks(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """[T, H, W] bool: pixels far from the empty backdrop (colours differ by >= 80)."""
    return np.abs(frames.astype(np.int16) - background.astype(np.int16)).sum(-1) > 60


def _moments(mask: np.ndarray):
    """Area, centroid x / y and long-axis angle (image axes) per frame."""
    h, w = mask.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w]
    area = mask.sum((1, 2)).astype(float)
    safe = np.maximum(area, 1)
    mx = (mask * xs).sum((1, 2)) / safe
    my = (mask * ys).sum((1, 2)) / safe
    dx, dy = xs[None] - mx[:, None, None], ys[None] - my[:, None, None]
    mu20, mu02 = (mask * dx**2).sum((1, 2)), (mask * dy**2).sum((1, 2))
    mu11 = (mask * dx * dy).sum((1, 2))
    return area, mx, my, 0.5 * np.arctan2(2 * mu11, mu20 - mu02)


def _recover(name: str, mask: np.ndarray) -> bool:
    """Whether the motion statistic of class ``name`` holds over these frames."""
    area, mx, my, angle = _moments(mask)
    seen = area > 0
    both = seen[1:] & seen[:-1]
    if name == 'Blink':
        return seen.any() and not seen.all()
    if not both.any():
        return False
    if name in ('MoveRight', 'MoveLeft'):
        step = np.median(np.diff(mx)[both])
        return step > 0 if name == 'MoveRight' else step < 0
    if name in ('RotateClockwise', 'RotateCounterClockwise'):
        turn = np.mod(np.diff(angle) + np.pi / 2, np.pi) - np.pi / 2
        step = np.median(turn[both])
        return step > 0 if name == 'RotateClockwise' else step < 0
    if name in ('Grow', 'Shrink'):
        step = np.median(np.diff(area)[both])
        return step > 0 if name == 'Grow' else step < 0
    if name in ('OrbitClockwise', 'OrbitCounterClockwise'):
        vx, vy = np.diff(mx), np.diff(my)
        ok = both[1:] & both[:-1]
        cross = np.median((vx[:-1] * vy[1:] - vy[:-1] * vx[1:])[ok])
        return cross > 0 if name == 'OrbitClockwise' else cross < 0
    raise KeyError(name)


TWINS = {'MoveRight': 'MoveLeft', 'RotateClockwise': 'RotateCounterClockwise',
         'Grow': 'Shrink', 'OrbitClockwise': 'OrbitCounterClockwise'}
TWINS.update({v: k for k, v in TWINS.items()})


def test_motion_of_each_action_is_recoverable(tmp_path):
    """Each action's motion statistic holds over its segment, and its mirror twin's
    does not: the label, the segment and the pixels agree."""
    ann = generate_untrimmed(str(tmp_path / 'clean'), 6, seed=3, cfg=CLEAN)
    with open(ann) as f:
        db = json.load(f)['database']
    seen_classes, failures = set(), []
    for vid, e in db.items():
        frames = decode(osp.join(osp.dirname(ann), 'videos', vid + '.mp4'))
        first = min(int(a['segment(frames)'][0]) for a in e['annotations'])
        assert first > 0
        mask = _object_masks(frames, frames[0])
        # no object outside the actions (clean scenes have no idle time or distractors)
        active = np.zeros(len(frames), dtype=bool)
        for a in e['annotations']:
            fs, fe = map(int, a['segment(frames)'])
            active[fs:fe] = True
            seen_classes.add(a['label'])
            if not _recover(a['label'], mask[fs:fe]):
                failures.append((vid, a))
            if a['label'] in TWINS and _recover(TWINS[a['label']], mask[fs:fe]):
                failures.append((vid, a, 'twin'))
        assert mask[~active].sum((1, 2)).max() < 3, vid
    assert not failures, failures
    assert len(seen_classes) >= len(MOTIONS) - 2


def test_trimmed_lists(tmp_path):
    cfg = replace(SMALL, with_background=True)
    train, val = generate_trimmed(str(tmp_path / 't'), 3, seed=1, cfg=cfg)
    root = osp.join(osp.dirname(train), 'clips')
    labels = {'train': [], 'val': []}
    for split, path in (('train', train), ('val', val)):
        with open(path) as f:
            for line in f:
                rel, label = line.split()
                labels[split].append(int(label))
                vr = decord.VideoReader(osp.join(root, rel))
                assert len(vr) >= round(cfg.clip_duration[0] * cfg.fps)
                assert rel.split('/')[0] == cfg.label_names[int(label)]
    n_cls = len(cfg.classes) + 1
    assert sorted(set(labels['train'])) == list(range(n_cls))
    assert sorted(set(labels['val'])) == list(range(n_cls))
    assert len(labels['train']) + len(labels['val']) == 3 * n_cls


def test_mmaction_video_dataset_reads_the_lists(tmp_path):
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    cfg = replace(SMALL, classes=('MoveRight', 'Grow'))
    train, val = generate_trimmed(str(tmp_path / 'v'), 2, seed=2, cfg=cfg)
    pipeline = [dict(type='DecordInit'),
                dict(type='SampleFrames', clip_len=CLIP_LEN, frame_interval=1, num_clips=1),
                dict(type='DecordDecode'), dict(type='FormatShape', input_format='NCTHW'),
                dict(type='PackActionInputs')]
    dataset = DATASETS.build(dict(type='VideoDataset', ann_file=val, pipeline=pipeline,
                                  data_prefix=dict(video=osp.join(osp.dirname(val), 'clips'))))
    assert len(dataset) == 2
    labels = []
    for i in range(len(dataset)):
        sample = dataset[i]
        assert tuple(sample['inputs'].shape) == (1, 3, CLIP_LEN, cfg.height, cfg.width)
        labels.append(int(sample['data_samples'].gt_label))
    assert sorted(labels) == [0, 1]


def test_mpeg4_codec_decodes(tmp_path):
    cfg = replace(SMALL, codec='mpeg4', video_duration=(12.0, 12.0))
    ann = generate_untrimmed(str(tmp_path / 'm'), 1, seed=0, cfg=cfg)
    with open(ann) as f:
        (vid, entry), = json.load(f)['database'].items()
    frames = decode(osp.join(osp.dirname(ann), 'videos', vid + '.mp4'))
    assert len(frames) == round(entry['duration'] * entry['fps'])


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match='Jump'):
        SyntheticConfig(classes=('MoveRight', 'Jump'))
    with pytest.raises(ValueError, match='noise_colour'):
        SyntheticConfig.from_dict({'noise_colour': 3})
    with pytest.raises(ValueError, match='video_duration'):
        SyntheticConfig(video_duration=(20.0, 10.0))


def test_ramp_clock_hand_values():
    from losa_plugin.synthetic.scene import ramp_clock
    # 12 frames at 12 fps (D = 1 s), speed 0 -> 1 over 0.25 s, 1 -> 0 over the last 0.5 s:
    # tau(t) = t^2 / 0.5 for t <= 0.25, t - 0.125 up to 0.5, then minus (t - 0.5)^2 / 1
    tau = ramp_clock(12, 12.0, 0.25, 0.5)
    t = np.arange(12) / 12.0
    expected = np.where(t <= 0.25, t**2 / 0.5, t - 0.125) - np.maximum(0, t - 0.5)**2
    np.testing.assert_allclose(tau, expected, atol=1e-12)
    assert tau[3] == pytest.approx(0.125)          # t = 0.25: 0.0625 / 0.5
    assert tau[9] == pytest.approx(0.75 - 0.125 - 0.0625)
    np.testing.assert_array_equal(ramp_clock(7, 12.0, 0.0, 0.0), np.arange(7) / 12.0)
    # ramps longer than half the action are cut to half of it: speed peaks mid-action
    short = ramp_clock(12, 12.0, 5.0, 5.0)
    np.testing.assert_allclose(short, np.where(t <= 0.5, t**2, 0.5 - (1 - t)**2 + 0.0), atol=1e-12)


def test_ramped_actions_start_and_end_slowly(tmp_path):
    """With ramp_in / ramp_out, the object barely moves at the start and end of its
    action (gradual onsets: the annotated segment spans the whole motion)."""
    base = replace(CLEAN, classes=('RotateClockwise', ), action_duration=(3.0, 4.0),
                   rotate_speed=(150.0, 150.0), object_aspect=(3.0, 3.0),
                   video_duration=(12.0, 12.0))
    ratios = {}
    for name, cfg in (('ramped', replace(base, ramp_in=(1.0, 1.0), ramp_out=(1.0, 1.0))),
                      ('plain', base)):
        ann = generate_untrimmed(str(tmp_path / name), 1, seed=5, cfg=cfg)
        with open(ann) as f:
            (vid, entry), = json.load(f)['database'].items()
        frames = decode(osp.join(osp.dirname(ann), 'videos', vid + '.mp4'))
        *_, angle = _moments(_object_masks(frames, frames[0]))
        edge, middle = [], []
        n = int(round(0.5 * cfg.fps))
        for a in entry['annotations']:
            fs, fe = map(int, a['segment(frames)'])
            # orientation change per frame, the axis angle taken modulo 180 degrees
            step = np.abs((np.diff(angle[fs:fe]) + np.pi / 2) % np.pi - np.pi / 2)
            edge += list(step[:n]) + list(step[-n:])
            middle += list(step[2 * n:-2 * n])
        ratios[name] = np.mean(edge) / np.mean(middle)
    # over the first / last 0.5 s of a 1 s ramp the mean speed is a quarter of full speed
    assert ratios["ramped"] < 0.45, ratios
    assert ratios['plain'] > 0.75, ratios


def test_label_groups_merge_the_labels_of_trimmed_clips(tmp_path):
    """Clips of each motion carry their group's label (the group named in classes.txt),
    the clips themselves are those of the ungrouped config, untrimmed videos refuse
    groups, and a config without groups keeps its dict (so the hashes of configs written
    before the field, e.g. the shipped backbones' keys, do not move)."""
    groups = (('Move', ('MoveRight', 'MoveLeft')), ('Turn', ('RotateClockwise', )))
    plain = replace(SMALL, classes=('MoveRight', 'RotateClockwise', 'MoveLeft'),
                    with_background=True)
    cfg = replace(plain, label_groups=groups)
    assert cfg.label_names == ('Move', 'Turn', 'Background')
    assert [cfg.motion_label(m) for m in range(4)] == [0, 1, 0, 2]
    train, _ = generate_trimmed(str(tmp_path / 'g'), 2, seed=3, cfg=cfg)
    ref, _ = generate_trimmed(str(tmp_path / 'p'), 2, seed=3, cfg=plain)
    expected = {'MoveRight': 0, 'MoveLeft': 0, 'RotateClockwise': 1, 'Background': 2}
    with open(train) as f, open(ref) as g:
        lines, ref_lines = f.read().split(), g.read().split()
    rels, labels = lines[0::2], [int(x) for x in lines[1::2]]
    assert rels == ref_lines[0::2] and len(rels) == 4
    assert [expected[r.split('/')[0]] for r in rels] == labels
    for rel in rels:  # the same frames as without groups
        a = decord.VideoReader(osp.join(tmp_path, 'g', 'clips', rel)).get_batch([0]).asnumpy()
        b = decord.VideoReader(osp.join(tmp_path, 'p', 'clips', rel)).get_batch([0]).asnumpy()
        assert np.array_equal(a, b)
    with open(osp.join(tmp_path, 'g', 'classes.txt')) as f:
        assert f.read().split() == ['Move', 'Turn', 'Background']
    assert 'label_groups' not in plain.to_dict()
    assert SyntheticConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match='untrimmed videos are annotated per motion'):
        generate_untrimmed(str(tmp_path / 'u'), 1, cfg=cfg)
    for bad in ((('Move', ('MoveRight', )), ('Turn', ('RotateClockwise', ))),  # MoveLeft?
                (('A', ('MoveRight', 'MoveLeft')), ('A', ('RotateClockwise', ))),
                (('Move', ('MoveRight', 'MoveLeft', 'RotateClockwise')), ('Empty', ()))):
        with pytest.raises(ValueError, match='label_groups must put every motion'):
            replace(plain, label_groups=bad)
