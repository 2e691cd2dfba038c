"""Raw-video pipeline: decoding, windows, the seconds <-> grid mapping, consistent
augmentation and bad input.

Synthetic videos are written with PyAV into tmp_path: frame ``k`` shows its index in
binary as 8 black / white vertical stripes (robust to lossy coding), so a decoded frame
tells which frame it is.
"""
import os
import os.path as osp

import av
import mmcv
import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from losa_plugin.datasets.transforms.consistent_augment import ConsistentAugment
from losa_plugin.datasets.transforms.decode_video_window import DecodeVideoWindow
from losa_plugin.datasets.transforms.pack_tal_inputs import PackTALInputs
from losa_plugin.datasets.transforms.sample_video_window import SampleVideoWindow
from losa_plugin.datasets.transforms.window_sampling import sliding_windows
from losa_plugin.datasets.video_reader import (VideoReadError, probe_video,
                                               read_frames)
from losa_plugin.utils.time_grid import grid_to_seconds, seconds_to_grid

SHARED = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', 'shared', 'data'))
H, W = 48, 64
BITS = 8  # stripes of W // BITS pixels; frames 0..255


def _pattern(k: int) -> np.ndarray:
    """Frame k: [H, W, 3] uint8, stripe b white when bit b of k is set."""
    bits = (k >> np.arange(BITS)) & 1
    row = np.repeat(bits * 255, W // BITS).astype(np.uint8)
    return np.broadcast_to(row[None, :, None], (H, W, 3)).copy()


def _index_of(frames: np.ndarray) -> np.ndarray:
    """Frame indices encoded in decoded frames [N, H, W, 3] (any size)."""
    n, _, w = frames.shape[:3]
    stripes = frames.reshape(n, -1, BITS, w // BITS, 3).mean(axis=(1, 3, 4)) > 127
    return (stripes * (1 << np.arange(BITS))).sum(1).astype(int)


def write_video(path, num_frames, fps=25, codec='mpeg4', faststart=False):
    opts = {'movflags': 'faststart'} if faststart else {}
    with av.open(str(path), 'w', options=opts) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = W, H, 'yuv420p'
        if codec == 'mpeg4':
            s.options = {'qscale': '1'}
        for k in range(num_frames):
            img = _pattern(k)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format='rgb24')):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)


@pytest.fixture(scope='module')
def video50(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp('v') / 'v50.mp4', 50, fps=25)


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmaction')


# ---------------------------------------------------------------- decoding
@pytest.mark.parametrize('backend', ['decord', 'pyav'])
@pytest.mark.parametrize('codec', ['mpeg4', 'libx264'])
def test_decoded_indices_match(tmp_path, backend, codec):
    path = write_video(tmp_path / f'{codec}.mp4', 40, fps=20, codec=codec)
    info = probe_video(path, backend=backend)
    assert (info.num_frames, info.fps) == (40, 20.0)
    assert info.duration == pytest.approx(2.0)
    wanted = [0, 17, 39, 3, 17]
    assert _index_of(read_frames(path, wanted, backend=backend)).tolist() == wanted


def test_frame_timestamps_follow_fps(video50):
    """Frame k (k-th decoded frame) is presented at k / fps, the reader's convention."""
    fps = probe_video(video50).fps
    with av.open(video50) as c:
        times = [f.time for f in c.decode(video=0)]
    assert np.allclose(times, np.arange(len(times)) / fps, atol=1e-6)


@pytest.mark.parametrize('name,frames,fps', [('demo.mp4', 280, 28.0), ('test.mp4', 300, 30.0)])
def test_shared_videos_backends_agree(name, frames, fps):
    path = osp.join(SHARED, name)
    info = probe_video(path)
    assert (info.num_frames, info.fps) == (frames, fps)
    inds = [0, 1, frames // 2, frames - 1]
    a = read_frames(path, inds, backend='decord').astype(np.float32)
    b = read_frames(path, inds, backend='pyav').astype(np.float32)
    assert a.shape == (4, 256, 340, 3)
    # same frame numbering in both backends: each frame matches itself best
    err = np.abs(a[:, None] - b[None]).mean(axis=(2, 3, 4))
    assert (err.argmin(1) == np.arange(4)).all() and err.diagonal().max() < 3


def test_frame_folder(tmp_path):
    d = tmp_path / 'frames'
    d.mkdir()
    for k in range(12):
        mmcv.imwrite(_pattern(k), str(d / f'img_{k + 1:05d}.jpg'))
    assert probe_video(str(d), fps=6) == (12, 6.0, 2.0)
    assert _index_of(read_frames(str(d), [11, 0, 5])).tolist() == [11, 0, 5]
    with pytest.raises(ValueError, match=f'{d}.*fps'):
        probe_video(str(d))  # frame folders have no fps of their own
    with pytest.raises(FileNotFoundError, match='frame 12'):
        read_frames(str(d), [12])


# ---------------------------------------------------------------- windows and the grid
def test_train_window_keeps_ground_truth(video50):
    # 50 frames, interval 1, 2 frames per cell -> 25 cells; window 2 clips of 4 = 4 cells
    seg = np.array([[1.2, 1.5]])  # seconds: frames 30..37.5
    t = SampleVideoWindow(clip_len=4, num_clips=2, frames_per_cell=2, trunc_thresh=0.5)
    starts = set()
    for seed in range(20):
        np.random.seed(seed)
        r = t(dict(video_path=video50, fps=25.0, segments=seg, labels=np.array([0])))
        inds, ws = r['frame_inds'], r['window_start']
        starts.add(ws)
        assert len(inds) == 8 and r['valid_len'] == 8
        assert (inds == ws + np.arange(8)).all()
        assert r['feature_stride'] == 2.0 and r['window_offset'] == ws + 1.0
        # at least half of the segment lies inside the window widened by half a cell
        # each side in grid positions (ActionFormer's rule): frames [ws, ws + 8 + 2]
        inter = min(37.5, ws + 10) - max(30, ws)
        assert inter / 7.5 >= 0.5
    assert len(starts) > 1  # random, not fixed


def test_cells_match_decoded_frames_and_seconds(video50):
    """Cell i's grid position maps (time_grid) to the centre of the frames decoded for it,
    and a GT segment in seconds -> cells -> seconds is off by less than a stride."""
    fi, fpc = 2, 2
    t = Compose([SampleVideoWindow(clip_len=4, frame_interval=fi, num_clips=2,
                                   frames_per_cell=fpc, test_mode=True),
                 DecodeVideoWindow()])
    r = t(dict(video_path=video50, fps=25.0, window_start=10, window_len=16))
    fps, stride, off = r['fps'], r['feature_stride'], r['window_offset']
    assert stride == fi * fpc
    decoded = _index_of(np.stack(r['imgs']))
    assert decoded.tolist() == (10 + fi * np.arange(8)).tolist()
    for i in range(r['valid_len'] // fpc):
        cell = decoded[i * fpc:(i + 1) * fpc]
        # the cell spans frames [cell[0], cell[0] + stride): time [cell[0], ...) / fps
        centre = grid_to_seconds(i, stride, off, fps)
        assert centre == pytest.approx((cell[0] + stride / 2) / fps)
        assert cell[0] / fps <= centre < (cell[-1] + fi) / fps
    seg = np.array([0.61, 0.93])  # seconds inside the window
    cells = np.rint(seconds_to_grid(seg, stride, off, fps))
    back = grid_to_seconds(cells, stride, off, fps)
    assert np.all(np.abs(back - seg) <= stride / fps / 2 + 1e-9)
    # PackTALInputs applies the same mapping to the sample's ground truth
    r.update(video_id='v50', duration=2.0, segments=seg[None], labels=np.array([3]))
    packed = PackTALInputs()(r)
    gt = packed['data_samples'].gt_instances
    assert np.allclose(gt.segments.numpy(), seconds_to_grid(seg, stride, off, fps), atol=1e-5)
    assert packed['inputs'].shape == (3, 8, H, W)


@pytest.mark.parametrize('frame_interval', [1, 2])
def test_sliding_windows_cover_every_frame(video50, frame_interval):
    """The dataset's sliding windows (original frames) + the sampler: every frame of
    the video lies in a valid cell of some window."""
    fpc, clip_len, num_clips = 2, 4, 2
    t = SampleVideoWindow(clip_len=clip_len, frame_interval=frame_interval,
                          num_clips=num_clips, frames_per_cell=fpc, test_mode=True)
    size = clip_len * num_clips * frame_interval
    covered = np.zeros(50, bool)
    for start, length in sliding_windows(50, size, overlap=0.25):
        r = t(dict(video_path=video50, window_start=start, window_len=length))
        assert r['valid_len'] <= clip_len * num_clips
        n_cells = int(np.ceil(r['grid_len']))
        for i in range(n_cells):
            lo = int(r['window_start'] + i * r['feature_stride'])
            covered[lo:lo + int(r['feature_stride'])] = True
    assert covered.all()


def test_resize_mode_whole_video(video50):
    t = Compose([SampleVideoWindow(clip_len=4, num_clips=3, frames_per_cell=2,
                                   mode='resize'), DecodeVideoWindow()])
    r = t(dict(video_path=video50, segments=np.zeros((0, 2))))
    decoded = _index_of(np.stack(r['imgs']))
    assert len(decoded) == 12 and r['valid_len'] == 12 and r['grid_len'] == 6
    assert decoded[0] == 0 and np.all(np.diff(decoded) > 0) and decoded[-1] >= 45
    assert r['feature_stride'] == pytest.approx(2 * 50 / 12)
    # cell 5 (the last) is centred inside the video's last sixth
    assert 50 * 5 / 6 < r['window_offset'] + 5 * r['feature_stride'] < 50


def test_short_video_padded_with_mask(tmp_path):
    path = write_video(tmp_path / 'short.mp4', 5, fps=10)
    for pad_mode in ('repeat', 'zero'):
        r = Compose([SampleVideoWindow(clip_len=8, num_clips=4, test_mode=True),
                     DecodeVideoWindow(pad_mode=pad_mode)])(dict(video_path=path))
        assert r['valid_len'] == 5 and len(r['imgs']) == 8 and r['num_clips'] == 1
        imgs = np.stack(r['imgs'])
        assert _index_of(imgs[:5]).tolist() == [0, 1, 2, 3, 4]
        expect_pad = imgs[4] if pad_mode == 'repeat' else np.zeros_like(imgs[4])
        assert all((imgs[k] == expect_pad).all() for k in range(5, 8))
    # training: a window that sticks out of the video is padded the same way
    np.random.seed(0)
    r = SampleVideoWindow(clip_len=8, num_clips=4)(dict(video_path=path))
    assert r['valid_len'] == 5 and len(r['frame_inds']) == 8


def test_annotation_fps_disagreeing_with_file(video50):
    r = SampleVideoWindow(clip_len=4, num_clips=2, test_mode=True)(
        dict(video_path=video50, fps=30.0, duration=2.0))
    assert r['fps'] == 25.0 and r['total_frames'] == 50  # the file's fps
    assert r['duration'] == 2.0  # the annotation's duration is kept for evaluation


# ---------------------------------------------------------------- bad input
def test_missing_video(tmp_path):
    path = str(tmp_path / 'nope.mp4')
    with pytest.raises(FileNotFoundError, match='nope.mp4'):
        probe_video(path)
    with pytest.raises(FileNotFoundError, match='nope.mp4'):
        SampleVideoWindow()(dict(video_path=path))


def test_empty_and_garbage_files(tmp_path):
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    with pytest.raises(VideoReadError, match='empty.mp4.*0 bytes'):
        probe_video(str(empty))
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(VideoReadError, match='junk.mp4'):
        probe_video(str(junk))


def test_truncated_videos(tmp_path):
    # index at the end (the usual mp4): cut in half, the file cannot be opened
    full = write_video(tmp_path / 'full.mp4', 30)
    data = open(full, 'rb').read()
    cut = tmp_path / 'cut.mp4'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(VideoReadError, match='cut.mp4'):
        probe_video(str(cut))
    # index at the start: it opens and claims 30 frames, but decoding stops early
    fs = write_video(tmp_path / 'fs.mp4', 30, faststart=True)
    data = open(fs, 'rb').read()
    cut_fs = tmp_path / 'cut_fs.mp4'
    cut_fs.write_bytes(data[:len(data) // 3])
    pipeline = Compose([SampleVideoWindow(clip_len=8, num_clips=4, test_mode=True),
                        DecodeVideoWindow()])
    with pytest.raises(VideoReadError, match='cut_fs.mp4'):
        pipeline(dict(video_path=str(cut_fs)))


def test_missing_path_key():
    with pytest.raises(KeyError, match="video 'x'.*video_path"):
        SampleVideoWindow()(dict(video_id='x'))


# ---------------------------------------------------------------- augmentation
def _train_aug():
    return Compose([
        dict(type='Resize', scale=(-1, 40)),
        dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='ColorJitter'),
        dict(type='ConsistentAugment', transforms=[dict(type='mmdet.RandAugment',
                                                        aug_num=2)]),
    ])


def _window(base, n=6):
    return dict(imgs=[base.copy() for _ in range(n)], modality='RGB')


def test_augmentation_consistent_within_window_and_differs_between():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    aug = _train_aug()
    np.random.seed(1)
    outs, boxes, flips = [], [], []
    for _ in range(4):
        r = aug(_window(base))
        frames = np.stack(r['imgs'])
        assert frames.shape == (6, 32, 32, 3)
        # identical input frames stay identical: one crop box, one flip, one policy
        assert all((f == frames[0]).all() for f in frames[1:])
        outs.append(frames[0])
        boxes.append(tuple(r['crop_bbox']))
        flips.append(bool(r['flip']))
    # a new window draws new parameters
    assert len(set(boxes)) > 1
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


def test_consistent_augment_is_what_makes_policies_consistent():
    """mmdet's RandAugment alone draws per call (per frame); the wrapper fixes that."""
    base = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    plain = Compose([dict(type='ConsistentAugment',
                          transforms=[dict(type='mmdet.RandAugment', aug_num=2)])])
    inner = plain.transforms[0].transforms[0]
    np.random.seed(3)
    per_frame = [inner(dict(img=base.copy(), img_shape=(32, 32)))['img'] for _ in range(6)]
    assert any(not np.array_equal(per_frame[0], f) for f in per_frame[1:])
    np.random.seed(3)
    frames = plain(_window(base))['imgs']
    assert all(np.array_equal(frames[0], f) for f in frames[1:])
    # a geometric op shifts every frame the same way: frame differences are preserved
    shift = ConsistentAugment([dict(type='mmdet.TranslateX', prob=1.0, min_mag=0.2,
                                    max_mag=0.2)])
    a = np.zeros((32, 32, 3), np.uint8)
    a[:, 10] = 255
    out = shift(dict(imgs=[a, a.copy()]))['imgs']
    assert np.array_equal(out[0], out[1]) and not np.array_equal(out[0], a)


def test_full_train_pipeline_on_real_video():
    """SampleVideoWindow -> DecodeVideoWindow -> MMAction2 augmentation -> PackTALInputs
    on the shared demo video."""
    path = osp.join(SHARED, 'demo.mp4')
    pipeline = Compose([
        dict(type='SampleVideoWindow', clip_len=8, frame_interval=4, num_clips=3,
             frames_per_cell=2),
        dict(type='DecodeVideoWindow'),
        *_train_aug().transforms,
        dict(type='PackTALInputs'),
    ])
    np.random.seed(0)
    out = pipeline(dict(video_path=path, video_id='demo', fps=28.0, duration=10.0,
                        segments=np.array([[2.0, 4.0], [7.0, 9.5]]),
                        labels=np.array([0, 1])))
    assert out['inputs'].shape == (3, 24, 32, 32)
    meta = out['data_samples'].metainfo
    assert meta['feature_stride'] == 8.0 and meta['valid_len'] == 24
    assert meta['window_offset'] == meta['window_start'] + 4.0
    gt = out['data_samples'].gt_instances
    assert len(gt.labels) >= 1  # the window keeps ground truth
    # kept ground truth is clipped to the crop widened by half a cell (ActionFormer)
    assert (gt.segments >= -0.5).all() and (gt.segments <= 12.5).all()


@pytest.mark.parametrize('cfg_name', ['thumos14_video', 'activitynet13_video'])
def test_dataset_configs_build_and_run(tmp_path, cfg_name):
    """The base dataset configs, shrunk (tiny windows / images), load the shared demo
    video through TALDataset and produce packed samples."""
    import json

    from mmengine.config import Config

    from mmaction.registry import DATASETS
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', 'configs', '_base_',
                                   'datasets', f'{cfg_name}.py'))
    subsets = ('Validation', 'Test') if cfg_name.startswith('thumos') else \
        ('training', 'validation')
    db = {f'demo_{s}': dict(subset=s, duration=10.0, fps=28.0, annotations=[
        dict(segment=[2.0, 4.0], label='Jump', label_id=0),
        dict(segment=[6.5, 9.0], label='Run', label_id=1)]) for s in subsets}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    vids = tmp_path / 'videos'
    vids.mkdir()
    prefix = cfg.train_dataloader.dataset.get('file_prefix', '')
    for s in subsets:
        os.symlink(osp.join(SHARED, 'demo.mp4'), vids / f'{prefix}demo_{s}.mp4')

    def shrink(pipeline):
        for t in pipeline:
            if t['type'] == 'SampleVideoWindow':
                t.update(clip_len=8, num_clips=2)
                if t.get('frame_interval'):
                    t['frame_interval'] = 4
            if t['type'] == 'Resize' and t['scale'] != (-1, 256):
                t['scale'] = (32, 32)
            if t['type'] == 'CenterCrop':
                t['crop_size'] = 32
        return pipeline

    for loader, n_expected in ((cfg.train_dataloader, 1), (cfg.val_dataloader, None)):
        ds_cfg = dict(loader.dataset, ann_file=str(ann), data_prefix=dict(video=str(vids)),
                      pipeline=shrink(list(loader.dataset.pipeline)))
        if 'test_window' in ds_cfg:
            ds_cfg['test_window'] = dict(size=64, overlap=0.25)  # 2 clips x 8 x interval 4
        ds = DATASETS.build(ds_cfg)
        if n_expected:
            assert len(ds) == n_expected
        elif cfg_name.startswith('thumos'):  # 280 frames in windows of 64
            assert len(ds) == len(sliding_windows(280, 64, 0.25))
        np.random.seed(0)
        sample = ds[0]
        assert sample['inputs'].shape[0] == 3 and sample['inputs'].shape[2:] == (32, 32)
        assert sample['inputs'].shape[1] == 16
        meta = sample['data_samples'].metainfo
        assert meta['fps'] == 28.0 and meta['valid_len'] == 16
