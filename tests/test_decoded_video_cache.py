"""Decoded videos kept in memory: the same bytes as a fresh decode, bounded memory.

The reference frames come from decoding the requested indices directly (decord through
``read_frames``, MMAction2's ``DecordInit`` + ``DecordDecode``), i.e. the code paths
the cache replaces, on the real shipped videos.
"""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import losa_plugin  # noqa: F401  (registers the transforms)
from losa_plugin.datasets.decoded_video_cache import DecodedVideoCache
from losa_plugin.datasets.transforms.decode_video_window import DecodeVideoWindow
from losa_plugin.datasets.video_reader import VideoReadError, read_frames

SHARED = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', 'shared', 'data'))


@pytest.mark.parametrize('name,num_frames', [('demo.mp4', 280), ('test.mp4', 300)])
def test_window_from_cache_equals_direct_decode(name, num_frames):
    path = osp.join(SHARED, name)
    rng = np.random.default_rng(3)
    cached = DecodeVideoWindow(cache_mb=512)
    plain = DecodeVideoWindow()
    # windows in random order, late ones first (a decoder that only went forward from
    # the last position, or sliced the wrong rows, would differ); padding repeats
    for start in list(rng.integers(0, num_frames - 40, size=5)) + [num_frames - 20]:
        inds = np.arange(start, start + 32)
        valid = int(min(32, num_frames - start))
        inds = np.minimum(inds, start + valid - 1)
        out = [t.transform(dict(video_path=path, frame_inds=inds, valid_len=valid))['imgs']
               for t in (cached, plain)]
        assert len(out[0]) == len(out[1]) == 32
        for a, b in zip(*out):
            np.testing.assert_array_equal(a, b)
    again = read_frames(path, [5, 1, 250])
    win = cached.transform(dict(video_path=path, frame_inds=np.array([5, 1, 250]),
                                valid_len=3))['imgs']
    np.testing.assert_array_equal(np.stack(win), again)


def test_cached_window_is_a_copy_and_bad_index_names_the_file(tmp_path):
    path = osp.join(SHARED, 'demo.mp4')
    t = DecodeVideoWindow(cache_mb=256)
    imgs = t.transform(dict(video_path=path, frame_inds=np.arange(4), valid_len=4))['imgs']
    imgs[0][:] = 0  # a Flip / crop writing into its frames must not touch the cache
    again = t.transform(dict(video_path=path, frame_inds=np.arange(4), valid_len=4))['imgs']
    np.testing.assert_array_equal(again[0], read_frames(path, [0])[0])
    with pytest.raises(VideoReadError, match='demo.mp4'):
        t.transform(dict(video_path=path, frame_inds=np.array([0, 280]), valid_len=2))
    with pytest.raises(ValueError, match='demo.mp4: no frame indices'):
        t.transform(dict(video_path=path, frame_inds=np.array([3, 3]), valid_len=0))
    with pytest.raises(ValueError, match='cache_mb'):
        DecodeVideoWindow(cache_mb=-1)


def test_lru_bound_and_rewritten_file(tmp_path):
    calls = []

    def decode(p):
        calls.append(p)
        return np.full((10, 64, 64, 3), len(calls), np.uint8)  # 120 KiB each

    files = []
    for i in range(3):
        f = tmp_path / f'v{i}.mp4'
        f.write_bytes(b'x' * (i + 1))
        files.append(str(f))
    cache = DecodedVideoCache(max_mb=0.25)  # holds two of them
    a = cache.get(files[0], decode)
    cache.get(files[1], decode)
    assert cache.get(files[0], decode) is a and len(calls) == 2  # hit, now most recent
    cache.get(files[2], decode)  # evicts files[1], the least recently used
    assert len(cache) == 2 and cache.nbytes == 2 * a.nbytes
    cache.get(files[0], decode)
    assert len(calls) == 3
    cache.get(files[1], decode)
    assert len(calls) == 4
    with pytest.raises(ValueError):
        a[0, 0, 0, 0] = 1  # shared frames are read-only
    # a file rewritten in place (new size) is a new video
    (tmp_path / 'v0.mp4').write_bytes(b'yyyyyyy')
    b = cache.get(files[0], decode)
    assert len(calls) == 5 and b[0, 0, 0, 0] == 5
    # a remote key (no local file) is cached by its name
    remote = 's3://bucket/clip.mp4'
    c = cache.get(remote, decode)
    assert cache.get(remote, decode) is c and len(calls) == 6


def test_cached_decord_init_matches_mmaction_decoding(tmp_path):
    init_default_scope('mmaction')
    # names without the extension, as MMAction2's lists may give them
    src = osp.join(SHARED, 'test.mp4')
    stem = str(tmp_path / 'clip')
    shutil.copy(src, stem + '.mp4')
    pipes = {}
    for init in ('DecordInit', 'CachedDecordInit'):
        pipes[init] = Compose([
            dict(type=init),
            dict(type='SampleFrames', clip_len=16, frame_interval=2, num_clips=1),
            dict(type='DecordDecode'),
        ])
    for seed in range(4):
        outs = []
        for init, pipe in pipes.items():
            np.random.seed(seed)  # SampleFrames draws its offset from numpy
            outs.append(pipe(dict(filename=stem, start_index=0, modality='RGB')))
        ref, got = outs
        np.testing.assert_array_equal(ref['frame_inds'], got['frame_inds'])
        assert got['total_frames'] == ref['total_frames'] == 300
        assert got['avg_fps'] == pytest.approx(ref['avg_fps'])
        for a, b in zip(ref['imgs'], got['imgs']):
            np.testing.assert_array_equal(a, b)
    os.remove(stem + '.mp4')
