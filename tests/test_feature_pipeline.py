"""Window sampling, the feature transforms, packing, and a train dataloader end to end."""
import json
import os

import numpy as np
import pytest
import torch
from mmaction.registry import TRANSFORMS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tests.conftest import SHARED_DATA
from losa_plugin.datasets.transforms import sample_train_window, sliding_windows
from losa_plugin.datasets.transforms.window_sampling import truncate_segments
from losa_plugin.utils.time_grid import grid_to_seconds

THUMOS = os.path.join(SHARED_DATA, 'thumos14.json')
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
STRIDE, FPF = 4, 16


def centre_seconds(num: int, fps: float) -> np.ndarray:
    """Centre time of feature i, covering frames [i * STRIDE, i * STRIDE + FPF)."""
    return (np.arange(num) * STRIDE + FPF / 2) / fps


def write_time_features(path: str, num: int, fps: float) -> None:
    """Features [T, 2] whose channel 0 is the feature's centre time in seconds and
    channel 1 its index, so a test can read where a grid cell sits in the video."""
    t = centre_seconds(num, fps)
    np.save(path, np.stack([t, np.arange(num)], axis=1).astype(np.float32))


# ------------------------------------------------------------- window sampling
@pytest.mark.parametrize('total,window,overlap', [
    (1, 5, 0.0), (5, 5, 0.5), (6, 5, 0.0), (100, 7, 0.0), (100, 7, 0.5), (101, 10, 0.25),
    (1000, 256, 0.9), (17, 16, 0.99)])
def test_sliding_windows_cover_every_step(total, window, overlap):
    windows = sliding_windows(total, window, overlap)
    hit = np.zeros(total, int)
    for start, length in windows:
        assert start >= 0 and start + length <= total
        assert length == min(window, total)
        hit[start:start + length] += 1
    assert hit.min() >= 1
    assert windows[-1][0] + windows[-1][1] == total  # last one aligned to the end
    starts = [s for s, _ in windows]
    assert starts == sorted(set(starts))
    if total > window:  # consecutive windows share about `overlap` of a window
        step = max(1, round(window * (1 - overlap)))
        assert all(b - a == step for a, b in zip(starts[:-2], starts[1:-1]))


def test_sliding_windows_bad_args():
    with pytest.raises(ValueError, match='overlap'):
        sliding_windows(10, 4, 1.0)
    with pytest.raises(ValueError, match='window_len'):
        sliding_windows(10, 0)


def test_sample_train_window_keeps_gt():
    rng = np.random.default_rng(0)
    # one short action in a long sequence: every accepted window keeps >= half of it
    segments = np.array([[700.0, 720.0]])
    for _ in range(50):
        start, length = sample_train_window(1000, 100, segments, rng, trunc_thresh=0.5)
        assert length == 100 and 0 <= start <= 900
        inside = min(720, start + length) - max(700, start)
        assert inside >= 10
    # fits: whole sequence unless cropping is asked for
    assert sample_train_window(80, 100, segments[:0], rng) == (0, 80)
    for _ in range(50):
        start, length = sample_train_window(80, 100, np.array([[10.0, 30.0]]), rng,
                                            crop_ratio=(0.9, 1.0))
        assert 72 <= length <= 80 and start + length <= 80
        assert min(30, start + length) - max(10, start) >= 10
    # no segment: any window is fine, still bounded
    start, length = sample_train_window(50, 10, np.zeros((0, 2)), rng)
    assert length == 10 and 0 <= start <= 40


def test_truncate_segments_actionformer_half_rule():
    """ActionFormer's truncate_feats by hand: window [100, 150) widened by 2 steps each
    side is [98, 152]; a segment stays when >= 50 % of it lies there, clipped to it."""
    segs = np.array([
        [90, 110],   # 12 / 20 inside -> kept, [98, 110]
        [80, 100],   # 2 / 20 -> dropped
        [140, 160],  # 12 / 20 -> kept, [140, 152]
        [144, 164],  # 8 / 20 -> dropped
        [92, 104],   # 6 / 12 = exactly 50 % (4 / 12 without the widening) -> [98, 104]
        [148, 156],  # 4 / 8 = exactly 50 % (2 / 8 without the widening) -> kept
        [120, 120],  # zero length: ActionFormer's 0 / 0 never passes -> dropped
        [120, 130],  # inside -> kept as is
    ], dtype=np.float64)
    keep, clipped = truncate_segments(segs, 100, 50, trunc_thresh=0.5, offset=2)
    assert keep.tolist() == [True, False, True, False, True, True, False, True]
    np.testing.assert_array_equal(clipped, [[98, 110], [140, 152], [98, 104], [148, 152],
                                            [120, 130]])
    # without the widening the two 50 % cases fall below the threshold
    keep0, _ = truncate_segments(segs, 100, 50, trunc_thresh=0.5, offset=0)
    assert keep0.tolist() == [True, False, True, False, False, False, False, True]


def test_crop_ratio_rounds_like_actionformer():
    """ActionFormer draws randint(max(round(0.9 L), 1), min(round(1.0 L), L)) with
    Python's round: for L = 85, 76.5 rounds to 76 (half to even), not up to 77."""
    rng = np.random.default_rng(0)
    lengths = {sample_train_window(85, 100, np.zeros((0, 2)), rng, crop_ratio=(0.9, 1.0))[1]
               for _ in range(400)}
    assert lengths == set(range(76, 86))


def test_sample_train_window_covers_starts():
    """Without GT the start is uniform: both ends of the range are reachable."""
    rng = np.random.default_rng(1)
    starts = {sample_train_window(12, 10, np.zeros((0, 2)), rng)[0] for _ in range(100)}
    assert starts == {0, 1, 2}


# ------------------------------------------------------------- transforms
def test_load_tal_feature_formats_and_windows(tmp_path):
    arr = np.arange(30, dtype=np.float64).reshape(10, 3)  # [T, C]
    np.save(tmp_path / 'tc.npy', arr)
    np.save(tmp_path / 'ct.npy', arr.T)
    base = dict(video_id='v', feature_stride=4, frames_per_feature=16)
    out = TRANSFORMS.build(dict(type='LoadTALFeature'))(
        dict(base, feature_path=str(tmp_path / 'tc.npy')))
    assert out['feat'].shape == (3, 10) and out['feat'].dtype == np.float32
    np.testing.assert_array_equal(out['feat'], arr.T)
    assert out['valid_len'] == 10 and out['window_start'] == 0 and out['window_offset'] == 8
    out = TRANSFORMS.build(dict(type='LoadTALFeature', format='CT'))(
        dict(base, feature_path=str(tmp_path / 'ct.npy'), window_start=6, window_len=3))
    np.testing.assert_array_equal(out['feat'], arr.T[:, 6:9])
    assert out['valid_len'] == 3 and out['window_start'] == 24
    assert out['window_offset'] == 6 * 4 + 8


def test_load_tal_feature_bad_files(tmp_path):
    load = TRANSFORMS.build(dict(type='LoadTALFeature'))
    base = dict(video_id='vid7', feature_stride=4, frames_per_feature=16)
    missing = str(tmp_path / 'nope.npy')
    with pytest.raises(FileNotFoundError, match='vid7.*nope.npy'):
        load(dict(base, feature_path=missing))
    (tmp_path / 'bad.npy').write_bytes(b'not a numpy file')
    with pytest.raises(ValueError, match='vid7.*bad.npy'):
        load(dict(base, feature_path=str(tmp_path / 'bad.npy')))
    np.save(tmp_path / 'three.npy', np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r'vid7.*\(2, 3, 4\).*2-D'):
        load(dict(base, feature_path=str(tmp_path / 'three.npy')))


def run_pipeline(tmp_path, segments, num=300, fps=30.0, truncate=None, seed=0):
    path = str(tmp_path / 'v.npy')
    write_time_features(path, num, fps)
    pipeline = [TRANSFORMS.build(dict(type='LoadTALFeature'))]
    if truncate:
        pipeline.append(TRANSFORMS.build(dict(type='RandomTruncateFeature', **truncate)))
    pipeline.append(TRANSFORMS.build(dict(type='PackTALInputs')))
    results = dict(video_id='v', fps=fps, duration=num * STRIDE / fps, feature_path=path,
                   feature_stride=STRIDE, frames_per_feature=FPF,
                   segments=np.asarray(segments, np.float32),
                   labels=np.arange(len(segments), dtype=np.int64))
    np.random.seed(seed)
    for t in pipeline:
        results = t(results)
    return results


def test_pack_maps_seconds_to_grid_and_back(tmp_path):
    fps = 30.0
    segments = [[1.0, 2.5], [10.3, 12.9], [30.0, 39.0]]
    out = run_pipeline(tmp_path, segments, num=300, fps=fps)
    inputs, sample = out['inputs'], out['data_samples']
    assert isinstance(sample, ActionDataSample)
    assert inputs.shape == (2, 300) and inputs.dtype == torch.float32
    meta = sample.metainfo
    for key in ('video_id', 'fps', 'duration', 'window_offset', 'feature_stride',
                'valid_len', 'window_start'):
        assert key in meta
    gt = sample.gt_instances
    assert gt.segments.dtype == torch.float32 and gt.labels.dtype == torch.int64
    # The grid cell nearest a segment's boundary holds a feature centred within one
    # feature stride of that boundary (channel 0 of the features is the centre time).
    for (s, e), (gs, ge) in zip(segments, gt.segments.tolist()):
        for sec, idx in ((s, gs), (e, ge)):
            centre = inputs[0, int(round(idx))].item()
            assert abs(centre - sec) <= STRIDE / fps
    np.testing.assert_allclose(gt.segments_sec.numpy(), np.asarray(segments), atol=1e-4)
    assert gt.labels.tolist() == [0, 1, 2]


def test_truncation_keeps_gt_and_respects_max_len(tmp_path):
    fps = 30.0
    segments = [[5.0, 7.0], [40.0, 44.0], [70.0, 71.0]]
    seen_starts = set()
    for seed in range(15):
        out = run_pipeline(tmp_path, segments, num=600, fps=fps, seed=seed,
                           truncate=dict(max_seq_len=128, trunc_thresh=0.5))
        inputs, sample = out['inputs'], out['data_samples']
        meta, gt = sample.metainfo, sample.gt_instances
        assert inputs.shape == (2, 128) and meta['valid_len'] == 128
        seen_starts.add(meta['window_start'])
        # features really are the window's: cell 0 is feature window_start / STRIDE
        assert inputs[1, 0].item() == meta['window_start'] / STRIDE
        assert meta['window_offset'] == meta['window_start'] + FPF / 2
        assert len(gt.segments) >= 1
        # ActionFormer's rule, by hand on the window's grid: a segment stays iff half of
        # it lies in [-2, 130] (the window widened by 0.5 * 16 / 4 steps), clipped there
        grid = (np.asarray(segments) * fps - meta['window_offset']) / STRIDE
        inside = (grid[:, 1].clip(-2, 130) - grid[:, 0].clip(-2, 130))
        expected = np.nonzero(inside >= 0.5 * (grid[:, 1] - grid[:, 0]))[0]
        assert gt.labels.tolist() == expected.tolist()
        np.testing.assert_allclose(gt.segments.numpy(), grid[expected].clip(-2, 130),
                                   atol=1e-4)
        # grid units and seconds still agree after the shift
        for (gs, ge), (ss, se) in zip(gt.segments.tolist(), gt.segments_sec.tolist()):
            assert abs(inputs[0, min(127, int(round(gs)))].item() - ss) <= STRIDE / fps
    assert len(seen_starts) > 3  # windows move


def test_truncation_rule_at_the_crop_edges(tmp_path):
    """140 steps cropped to 128 (start 0..12): A = [120, 136] is always kept and clipped
    to the widened end (start + 130: 130 on the window's grid for starts <= 6, beyond
    the window's 128); B = [2, 10]
    is kept exactly when half of it lies past start - 2 (for starts 7 and 8 only thanks
    to the widening), unclipped while it starts inside the widened crop."""
    fps = 30.0
    to_sec = lambda g: (np.asarray(g) * STRIDE + FPF / 2) / fps  # noqa: E731
    grid = np.array([[2.0, 10.0], [60.0, 70.0], [120.0, 136.0]])
    widened_keep = past_end = 0
    for seed in range(40):
        out = run_pipeline(tmp_path, to_sec(grid).tolist(), num=140, fps=fps, seed=seed,
                           truncate=dict(max_seq_len=128, trunc_thresh=0.5))
        meta, gt = out['data_samples'].metainfo, out['data_samples'].gt_instances
        start = meta['window_start'] // STRIDE
        lo, hi = start - 2, start + 130
        b_kept = (10 - max(2, lo)) / 8 >= 0.5
        expected = ([0] if b_kept else []) + [1, 2]
        assert gt.labels.tolist() == expected, start
        rel = grid[expected].clip(lo, hi) - start
        np.testing.assert_allclose(gt.segments.numpy(), rel, atol=1e-4)
        past_end += gt.segments[-1, 1].item() > 128 + 1e-3
        widened_keep += b_kept and (10 - max(2, start)) / 8 < 0.5
    assert widened_keep > 0  # some crop kept B only because of the 2-step widening
    assert past_end > 0  # and some clipped A past the window's own end


def test_uncropped_sequence_keeps_its_ground_truth_unclipped(tmp_path):
    """A sequence that fits (no crop) keeps every segment as it is, even one running
    past the last feature, as ActionFormer leaves such samples untouched."""
    fps = 30.0
    segments = [[1.0, 2.0], [6.0, 9.0]]  # 50 features = 6.67 s: the second runs past
    out = run_pipeline(tmp_path, segments, num=50, fps=fps,
                       truncate=dict(max_seq_len=64, trunc_thresh=0.5))
    gt = out['data_samples'].gt_instances
    assert out['inputs'].shape == (2, 50) and gt.labels.tolist() == [0, 1]
    grid = (np.asarray(segments) * fps - FPF / 2) / STRIDE
    np.testing.assert_allclose(gt.segments.numpy(), grid, atol=1e-4)
    assert gt.segments.max() > 50


def test_pack_frames_keeps_uint8():
    frames = [np.full((4, 5, 3), i, np.uint8) for i in range(6)]
    frames[2][1, 2] = (7, 8, 9)
    out = TRANSFORMS.build(dict(type='PackTALInputs'))(dict(
        imgs=frames, video_id='v', fps=30.0, duration=None, window_offset=8.0,
        feature_stride=4.0, valid_len=6, window_start=0,
        segments=np.array([[0.2, 2.0], [5.0, 6.0]], np.float32), labels=np.array([1, 2])))
    x = out['inputs']
    assert x.shape == (3, 6, 4, 5) and x.dtype == torch.uint8
    assert x[:, 2, 1, 2].tolist() == [7, 8, 9] and x[0, 5, 0, 0].item() == 5
    # grid length for frames: 6 frames / 4 frames per cell = 1.5 cells; the first
    # segment (grid -0.5 .. 13) is clipped to it, the second (grid 35.5 ..) dropped
    gt = out['data_samples'].gt_instances
    assert gt.segments.tolist() == [[0.0, 1.5]] and gt.labels.tolist() == [1]


def test_pack_errors():
    pack = TRANSFORMS.build(dict(type='PackTALInputs'))
    with pytest.raises(KeyError, match="'feat'.*'imgs'"):
        pack(dict(video_id='v'))
    with pytest.raises(KeyError, match="v9.*'window_offset'"):
        pack(dict(video_id='v9', feat=np.zeros((2, 3)), fps=1.0, feature_stride=1.0,
                  valid_len=3, window_start=0))


def test_resize_feature_spans_video(tmp_path):
    fps = 15.0
    path = str(tmp_path / 'a.npy')
    num = 50
    write_time_features(path, num, fps)
    duration = (num * STRIDE) / fps
    out = TRANSFORMS.build(dict(type='LoadTALFeature'))(dict(
        video_id='a', feature_path=path, feature_stride=STRIDE, frames_per_feature=FPF,
        fps=fps, duration=duration))
    out = TRANSFORMS.build(dict(type='ResizeTALFeature', length=16))(out)
    assert out['feat'].shape == (2, 16) and out['valid_len'] == 16
    assert out['feature_stride'] == pytest.approx(duration * fps / 16)
    first, last = (grid_to_seconds(np.array([0, 15]), out['feature_stride'],
                                   out['window_offset'], fps))
    assert first == pytest.approx(duration / 32) and last == pytest.approx(duration * 31 / 32)


def test_resize_feature_without_duration_follows_interpolation(tmp_path):
    """Without a duration the grid follows the interpolation: channel 0 (the centre
    time, linear in the index) of a resized cell equals that cell's time."""
    fps, num, length = 30.0, 40, 100
    path = str(tmp_path / 'b.npy')
    write_time_features(path, num, fps)
    out = TRANSFORMS.build(dict(type='LoadTALFeature'))(dict(
        video_id='b', feature_path=path, feature_stride=STRIDE, frames_per_feature=FPF,
        fps=fps, duration=None))
    out = TRANSFORMS.build(dict(type='ResizeTALFeature', length=length))(out)
    out = TRANSFORMS.build(dict(type='PackTALInputs'))(dict(out, segments=[[1.0, 2.0]],
                                                            labels=[0]))
    meta = out['data_samples'].metainfo
    cells = np.arange(2, length - 2)  # away from the clamped ends
    expected = grid_to_seconds(cells, meta['feature_stride'], meta['window_offset'], fps)
    np.testing.assert_allclose(out['inputs'][0, cells].numpy(), expected, atol=1e-4)
    gt = out['data_samples'].gt_instances
    np.testing.assert_allclose(gt.segments_sec.numpy(), [[1.0, 2.0]], atol=1e-4)


# ------------------------------------------------------------- end to end
def test_train_dataloader_end_to_end(tmp_path):
    with open(THUMOS) as f:
        db = json.load(f)['database']
    folder = tmp_path / 'i3d'
    folder.mkdir()
    for vid, e in db.items():
        if e['subset'] == 'Validation':
            num = max(1, (int(round(e['duration'] * e['fps'])) - FPF) // STRIDE + 1)
            write_time_features(str(folder / (vid + '.npy')), num, e['fps'])
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/_base_/datasets/thumos14_features.py'))
    loader_cfg = cfg.train_dataloader
    loader_cfg.dataset.update(data_root='', ann_file=THUMOS,
                              data_prefix=dict(feature=str(folder)))
    loader_cfg.dataset.pipeline[1]['max_seq_len'] = 64  # tiny windows for speed
    loader_cfg.update(num_workers=0, persistent_workers=False, batch_size=3)
    init_default_scope('mmaction')
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batch = next(iter(loader))
    assert len(batch['inputs']) == 3 and len(batch['data_samples']) == 3
    for x, sample in zip(batch['inputs'], batch['data_samples']):
        assert x.shape[0] == 2 and x.shape[1] <= 64 and x.shape[1] == sample.valid_len
        gt = sample.gt_instances
        assert len(gt.labels) >= 1 and 0 <= gt.labels.min() and gt.labels.max() < 20
        assert gt.segments.max() <= x.shape[1] + 2  # ActionFormer's 2-step widening
        # the features at the packed ground truth are from that time of the video (a
        # segment the crop clipped at its start sits at -2 steps: take one inside)
        inside = (gt.segments[:, 0] >= 0).nonzero().flatten()
        if len(inside):
            k = int(inside[0])
            start = gt.segments_sec[k, 0].item()
            idx = min(x.shape[1] - 1, int(round(gt.segments[k, 0].item())))
            assert abs(x[0, idx].item() - start) <= STRIDE / sample.fps


def test_activitynet_config_test_pipeline(tmp_path):
    """The ActivityNet config resizes each video to 192 steps (ActionFormer's
    max_seq_len) spanning its duration."""
    with open(os.path.join(SHARED_DATA, 'anet13_val.json')) as f:
        db = json.load(f)['database']
    keep = {k: db[k] for k in [k for k, e in db.items() if e['duration']][:2]}
    ann = tmp_path / 'anet.json'
    ann.write_text(json.dumps(dict(database=keep)))
    folder = tmp_path / 'feats'
    folder.mkdir()
    for k, e in keep.items():
        np.save(folder / (k + '.npy'), np.random.rand(int(e['duration']), 5).astype('f4'))
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/_base_/datasets/activitynet13_features.py'))
    loader_cfg = cfg.test_dataloader
    loader_cfg.dataset.update(data_root='', ann_file=str(ann),
                              data_prefix=dict(feature=str(folder)),
                              class_names=os.path.join(SHARED_DATA, 'anet13_classes.txt'))
    loader_cfg.update(num_workers=0, persistent_workers=False)
    init_default_scope('mmaction')
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    for batch in loader:
        x, sample = batch['inputs'][0], batch['data_samples'][0]
        assert cfg.resize_len == 192
        assert x.shape == (5, 192) and sample.valid_len == 192
        ends = grid_to_seconds(np.array([-0.5, 191.5]), sample.feature_stride,
                               sample.window_offset, sample.fps)
        np.testing.assert_allclose(ends, [0.0, sample.duration], atol=1e-6)
        segs = np.asarray([a['segment'] for a in keep[sample.video_id]['annotations']])
        np.testing.assert_allclose(sample.gt_instances.segments_sec.numpy(),
                                   segs.clip(0, sample.duration), atol=1e-3)
