"""tools/infer.py: detections on single videos equal tools/test.py's, JSON + PNG written.

A tiny LoSA model with a frozen ViT loaded from a ``pretrained`` file is trained for a
few iterations on synthetic videos (so its checkpoint is trainable-only and both tools
must re-attach the backbone). The test subset holds two synthetic videos and the real
``../shared/data/test.mp4`` (10 s, 300 frames: 8 sliding windows), and tools/test.py
runs them in batches of 2 windows that mix videos, as a user's test run would.
"""
import copy
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from losa_plugin.engine import add_trainable_checkpoint_hook
from losa_plugin.synthetic import SyntheticConfig, generate_untrimmed
from tests.conftest import SHARED_DATA
from tests.test_trainable_checkpoint import _write_backbone
from tests.test_video_end_to_end import tiny_video_config

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
REAL_VIDEO = osp.join(SHARED_DATA, 'test.mp4')


def _run(args):
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout, proc.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    if not osp.isfile(REAL_VIDEO):
        pytest.skip(f'{REAL_VIDEO} missing')
    tmp = tmp_path_factory.mktemp('infer')
    syn = SyntheticConfig(height=32, width=32, fps=8.0, video_duration=(6, 12))
    ann = generate_untrimmed(str(tmp / 'data'), num_videos=6, seed=11, cfg=syn)
    video_dir = osp.join(osp.dirname(ann), 'videos')
    # the real video joins the test subset (no ground truth)
    os.symlink(REAL_VIDEO, osp.join(video_dir, 'real_test.mp4'))
    with open(ann) as f:
        content = json.load(f)
    content['database']['real_test'] = dict(subset='Test', fps=30.0, duration=10.0,
                                            annotations=[])
    with open(ann, 'w') as f:
        json.dump(content, f)
    base = tiny_video_config(ann, video_dir, str(tmp / 'work'))
    cfg = Config(copy.deepcopy(base))
    classes = osp.join(osp.dirname(ann), 'classes.txt')  # all 6, whatever the videos hold
    for part in (cfg.train_dataloader.dataset, cfg.test_dataloader.dataset,
                 cfg.test_evaluator):
        part.class_names = classes
    cfg.model.backbone.pretrained = str(tmp / 'vit.pth')
    _write_backbone(base, cfg.model.backbone.pretrained, seed=0)
    cfg.custom_hooks = [dict(type='TrainableEMAHook', momentum=0.2, update_buffers=True)]
    cfg.train_cfg.max_iters = 6
    cfg.default_hooks.checkpoint.interval = 6
    cfg.optim_wrapper.optimizer.lr = 3e-3
    add_trainable_checkpoint_hook(cfg)
    Runner.from_cfg(cfg).train()
    ckpt = str(tmp / 'work' / 'iter_6.pth')
    assert 'trainable_only' in torch.load(ckpt)['meta']
    cfg_file = str(tmp / 'tiny_losa.py')
    cfg.dump(cfg_file)
    test_ids = [v for v, e in content['database'].items() if e['subset'] == 'Test']
    out = dict(tmp=tmp, ann=ann, video_dir=video_dir, cfg_file=cfg_file, ckpt=ckpt,
               test_ids=test_ids, infer_dir=str(tmp / 'infer_out'))
    out['stdout'], out['stderr'] = _run(
        ['tools/infer.py', cfg_file, ckpt, *[_video_path(out, v) for v in test_ids],
         '--out', out['infer_dir'], '--gt', ann, '--top-k', '3'])
    return out


def _video_path(trained, vid):
    return osp.join(trained['video_dir'], vid + '.mp4')


@pytest.mark.slow(cpu_s=50)
def test_infer_equals_test_py_and_writes_json_and_png(trained):
    tmp = trained['tmp']
    dump = str(tmp / 'test_dump.json')
    _run(['tools/test.py', trained['cfg_file'], trained['ckpt'], '--work-dir',
          str(tmp / 'test_work'), '--dump', dump])
    with open(dump) as f:
        expected = json.load(f)['results']

    out_dir, stdout, stderr = trained['infer_dir'], trained['stdout'], trained['stderr']
    with open(osp.join(out_dir, 'results.json')) as f:
        got = json.load(f)['results']
    assert len(trained['test_ids']) == 3 and set(got) == set(trained['test_ids'])
    exact = 0
    for vid in trained['test_ids']:
        # the same detections in the same order; numbers equal up to float rounding:
        # tools/test.py batches windows of different videos together (other padding,
        # other BLAS blocking), which moves scores by ~1e-8 here
        want, have = expected.get(vid, []), got[vid]
        assert have and len(have) == len(want), vid
        assert [d['label'] for d in have] == [d['label'] for d in want], vid
        for d, e in zip(have, want):
            assert d['score'] == pytest.approx(e['score'], abs=1e-6), vid
            assert d['segment'] == pytest.approx(e['segment'], abs=1e-5), vid
        exact += have == want
        with open(osp.join(out_dir, vid + '.json')) as f:
            single = json.load(f)
        assert single['results'] == {vid: got[vid]}
        with open(osp.join(out_dir, vid + '.png'), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # a video whose windows tools/test.py batched alone gives bit-identical output
    assert exact >= 1
    # the real video is cut into 8 windows (300 frames, 48 a window, overlap 0.25)
    assert 'real_test: 10.0 s at 30 fps, 8 window(s)' in stdout
    assert 'real_test' in stderr and 'window' in stderr  # progress bar
    # the table lists the top 3 by score, with the tIoU column when ground truth exists
    syn_id = trained['test_ids'][0]
    block = stdout.split(f'\n{syn_id}:')[1].split('\n')
    assert 'tIoU gt' in block[1]
    top = sorted((d['score'] for d in got[syn_id]), reverse=True)[:3]
    assert [float(line.split()[-2]) for line in block[2:5]] == \
        pytest.approx(top, abs=5e-5)


def test_infer_score_threshold_and_no_gt(trained):
    tmp = trained['tmp']
    vid = trained['test_ids'][0]
    thr_dir = str(tmp / 'thr')
    video = _video_path(trained, vid)
    with open(osp.join(trained['infer_dir'], vid + '.json')) as f:
        everything = json.load(f)['results'][vid]
    scores = sorted(d['score'] for d in everything)
    thr = scores[len(scores) // 2]  # the median: half are kept
    stdout, _ = _run(['tools/infer.py', trained['cfg_file'], trained['ckpt'], video,
                      '--out', thr_dir, '--score-thr', str(thr), '--no-progress'])
    with open(osp.join(thr_dir, vid + '.json')) as f:
        kept = json.load(f)['results'][vid]
    assert kept == [d for d in everything if d['score'] >= thr]
    assert 0 < len(kept) < len(everything)
    assert 'tIoU gt' not in stdout
    assert osp.getsize(osp.join(thr_dir, vid + '.png')) > 1000


def test_infer_rejects_bad_input(trained):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import infer
    finally:
        sys.path.pop(0)
    missing = str(trained['tmp'] / 'missing.mp4')
    with pytest.raises(FileNotFoundError, match='video not found: .*missing.mp4'):
        infer.main([trained['cfg_file'], trained['ckpt'], missing, '--out',
                    str(trained['tmp'] / 'x')])
    with pytest.raises(FileNotFoundError, match='--gt annotation file not found'):
        infer.main([trained['cfg_file'], trained['ckpt'], _video_path(
            trained, trained['test_ids'][0]), '--out', str(trained['tmp'] / 'x'), '--gt',
            missing])
    # a config on stored features cannot run on a video
    from losa_plugin.apis import inference_tal_detector
    from losa_plugin.apis.inference import init_tal_detector
    model = init_tal_detector(trained['cfg_file'], trained['ckpt'])
    model.cfg.test_dataloader.dataset.input_type = 'feature'
    with pytest.raises(ValueError, match="input_type='video'"):
        inference_tal_detector(model, _video_path(trained, trained['test_ids'][0]))
