"""tools/extract_features.py on a tiny ViT: chunked extraction equals one pass over the
whole video, one row per grid cell, taps selectable, unreadable videos skipped."""
import importlib.util
import json
import math
import os
import os.path as osp

import av
import numpy as np
import pytest
import torch

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
SHARED = osp.abspath(osp.join(ROOT, '..', 'shared', 'data'))

CONFIG = """
default_scope = 'mmaction'
custom_imports = dict(imports=['losa_plugin'], allow_failed_imports=False)
model = dict(
    backbone=dict(type='LayerTapViT', clip_len=8, clip_batch=2,
                  vit=dict(img_size=32, patch_size=16, embed_dims=24, depth=3,
                           num_heads=2, num_frames=8, tubelet_size=2)),
    data_preprocessor=dict(type='TALDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375]))
test_pipeline = [
    dict(type='SampleVideoWindow', clip_len=8, frame_interval=3, num_clips={num_clips},
         frames_per_cell=2),
    dict(type='DecodeVideoWindow'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackTALInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
"""


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'extract_features', osp.join(ROOT, 'tools', 'extract_features.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_video(path, n, fps=20):
    rng = np.random.default_rng(n)
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=fps)
        s.width, s.height, s.pix_fmt = 48, 40, 'yuv420p'
        for _ in range(n):
            img = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format='rgb24')):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('extract')
    videos = tmp / 'videos'
    videos.mkdir()
    _write_video(videos / 'syn61.mp4', 61)  # 61 frames: the last window is partial
    os.symlink(osp.join(SHARED, 'test.mp4'), videos / 'test.mp4')
    (videos / 'broken.mp4').write_bytes(os.urandom(2000))
    (videos / 'notes.txt').write_text('not a video')
    # a checkpoint so both runs use the same weights
    torch.manual_seed(0)
    tool = _load_tool()
    cfgs = {}
    for n in (1, 8):
        p = tmp / f'cfg_{n}.py'
        p.write_text(CONFIG.format(num_clips=n))
        cfgs[n] = str(p)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    bb = tool.build_backbone(Config.fromfile(cfgs[1]), None, None, None)
    ckpt = tmp / 'vit.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               bb.backbone.state_dict().items()}}, ckpt)
    return dict(tool=tool, tmp=tmp, videos=str(videos), cfgs=cfgs, ckpt=str(ckpt))


def test_extract_last_layer_matches_single_pass(setup):
    tool, tmp = setup['tool'], setup['tmp']
    outs = {}
    for n in (1, 8):  # windows of 1 clip (many windows) vs 8 clips (one for syn61)
        out = str(tmp / f'out_{n}')
        code = tool.main([setup['cfgs'][n], '--videos', setup['videos'], '--out', out,
                          '--checkpoint', setup['ckpt']])
        assert code == 1  # broken.mp4 was skipped, and says so
        assert sorted(os.listdir(out)) == ['meta.json', 'syn61.npy', 'test.npy']
        outs[n] = out
    meta = json.load(open(osp.join(outs[1], 'meta.json')))['videos']
    for vid, frames, fps in (('syn61', 61, 20.0), ('test', 300, 30.0)):
        a = np.load(osp.join(outs[1], f'{vid}.npy'))
        b = np.load(osp.join(outs[8], f'{vid}.npy'))
        stride = 2 * 3  # frames_per_cell * frame_interval
        assert meta[vid]['feature_stride'] == stride and meta[vid]['fps'] == fps
        assert meta[vid]['num_frames'] == frames
        assert a.shape == (math.ceil(frames / stride), 24) and a.dtype == np.float32
        # the window cut does not change the features (clips run independently)
        assert np.allclose(a, b, atol=1e-4)
        assert np.abs(np.diff(a, axis=0)).max() > 1e-3  # real, varying features


def test_extract_chosen_taps(setup):
    tool, tmp = setup['tool'], setup['tmp']
    out_all, out_last = str(tmp / 'taps_all'), str(tmp / 'taps_last')
    args = ['--videos', setup['videos'], '--checkpoint', setup['ckpt'], '--ext', 'mp4']
    tool.main([setup['cfgs'][8], '--out', out_all, '--taps', '1,3'] + args)
    tool.main([setup['cfgs'][8], '--out', out_last, '--taps', 'last'] + args)
    assert sorted(os.listdir(out_all)) == ['layer_01', 'layer_03', 'meta.json']
    l1 = np.load(osp.join(out_all, 'layer_01', 'syn61.npy'))
    l3 = np.load(osp.join(out_all, 'layer_03', 'syn61.npy'))
    last = np.load(osp.join(out_last, 'syn61.npy'))
    assert l1.shape == l3.shape == last.shape
    assert np.allclose(l3, last, atol=1e-5) and not np.allclose(l1, l3, atol=1e-3)


def test_bad_arguments(setup):
    tool = setup['tool']
    with pytest.raises(ValueError, match='--taps'):
        tool.parse_taps('first')
    with pytest.raises(FileNotFoundError, match='no_such_dir'):
        tool.main([setup['cfgs'][1], '--videos', 'no_such_dir', '--out', '/tmp/x'])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.main([setup['cfgs'][1], '--videos', setup['videos'], '--out',
                   str(setup['tmp'] / 'o'), '--checkpoint', 'missing.pth'])
