"""A short end-to-end run from raw mp4 videos: a few training iterations of a tiny LoSA
config through tools/train.py, then tools/test.py writing a results JSON and mAP."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from losa_plugin.synthetic import SyntheticConfig, generate_untrimmed

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def tiny_video_config(ann_file: str, video_dir: str, work_dir: str) -> dict:
    clip_len, frame_interval, cells, num_clips = 8, 1, 4, 6
    window = dict(type='SampleVideoWindow', clip_len=clip_len, frame_interval=frame_interval,
                  num_clips=num_clips, frames_per_cell=clip_len // cells)
    common = dict(type='THUMOS14Dataset', ann_file=ann_file, input_type='video',
                  data_prefix=dict(video=video_dir))
    loader = dict(num_workers=0, collate_fn=dict(type='pseudo_collate'))
    return dict(
        default_scope='mmaction',
        custom_imports=dict(imports=['losa_plugin']),
        work_dir=work_dir,
        model=dict(
            type='TALDetector',
            data_preprocessor=dict(type='TALDataPreprocessor', mean=[120.0] * 3,
                                   std=[60.0] * 3, pad_multiple=clip_len),
            backbone=dict(type='LayerTapViT', clip_len=clip_len, clip_batch=3,
                          vit=dict(type='VisionTransformer', img_size=32, patch_size=8,
                                   embed_dims=32, depth=3, num_heads=2, mlp_ratio=2,
                                   num_frames=clip_len, tubelet_size=2)),
            neck=dict(type='LoSANeck'),
            head=dict(type='ActionFormerHead', num_classes=6, in_channels=32, embed_dims=32,
                      head_dims=32, arch=(1, 1, 2), n_mha_win_size=5, num_heads=2,
                      drop_path=0.0, regress_ranges=((0, 4), (4, 8), (8, 10000)))),
        train_dataloader=dict(
            batch_size=2, sampler=dict(type='DefaultSampler', shuffle=True), **loader,
            dataset=dict(**common, subset='Validation', pipeline=[
                dict(**window, trunc_thresh=0.3),
                dict(type='DecodeVideoWindow'),
                dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),
                dict(type='Resize', scale=(32, 32), keep_ratio=False),
                dict(type='Flip', flip_ratio=0.5),
                dict(type='PackTALInputs')])),
        test_dataloader=dict(
            batch_size=2, sampler=dict(type='DefaultSampler', shuffle=False), **loader,
            dataset=dict(**common, subset='Test', test_mode=True,
                         test_window=dict(size=clip_len * num_clips * frame_interval,
                                          overlap=0.25),
                         pipeline=[dict(**window, test_mode=True),
                                   dict(type='DecodeVideoWindow'),
                                   dict(type='Resize', scale=(32, 32), keep_ratio=False),
                                   dict(type='PackTALInputs')])),
        test_evaluator=dict(type='TALMetric', ann_file=ann_file, subset='Test',
                            tiou_thresholds=[0.3, 0.5, 0.7]),
        test_cfg=dict(type='TestLoop'),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=4),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False)),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0))


def _run(args):
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow(cpu_s=28)
def test_tiny_losa_from_raw_video(tmp_path):
    syn = SyntheticConfig(height=32, width=32, fps=8.0, video_duration=(6, 10))
    ann_file = generate_untrimmed(str(tmp_path / 'videos'), num_videos=6, seed=3, cfg=syn)
    video_dir = osp.join(osp.dirname(ann_file), 'videos')
    assert os.listdir(video_dir)
    work = str(tmp_path / 'work')
    cfg_file = str(tmp_path / 'tiny_losa_video.py')
    Config(tiny_video_config(ann_file, video_dir, work)).dump(cfg_file)

    out = _run(['tools/train.py', cfg_file, '--work-dir', work])
    assert 'Iter(train) [4/4]' in out
    ckpt = osp.join(work, 'iter_4.pth')
    assert osp.isfile(ckpt)

    results = str(tmp_path / 'results.json')
    out = _run(['tools/test.py', cfg_file, ckpt, '--work-dir', work, '--dump', results])
    assert 'average_mAP' in out and 'mAP@0.50' in out
    with open(results) as f:
        dumped = json.load(f)['results']
    test_ids = {v for v, e in json.load(open(ann_file))['database'].items()
                if e['subset'] == 'Test'}
    assert set(dumped) <= test_ids and dumped
    for dets in dumped.values():
        for d in dets:
            assert 0 <= d['segment'][0] <= d['segment'][1]
