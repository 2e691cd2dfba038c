# Shared base of the synthetic TAL benchmark (docs/synthetic_benchmark.md): the tiny ViT
# pretrained on the trimmed clips, frozen, run on raw frames of the untrimmed synthetic
# videos; last layer (spatial mean) into a small ActionFormer head. This file *is* the
# head-only-online model; the LoSA and full fine-tuning configs are model deltas over it.
#
# Timing (12 fps, 64 x 64): clips of 16 frames at frame_interval 1, tubelet 2 -> one
# feature every 2 frames (1/6 s). A window is 8 clips = 128 frames = 10.7 s = 64 cells.
# Actions last 0.5-16 s = 3-96 cells, hence regression ranges up to 32+ cells.
_base_ = ['../_base_/models/actionformer.py', '../_base_/default_runtime.py',
          './vit-tiny_synthetic.py']

# what `bash tools/run_main.sh` writes (aligned regime, data seed 0); the tool passes
# its own paths, these defaults let tools/train.py and tools/infer.py run the config
data_root = 'work_dirs/synthetic_benchmark/data/full-s0/aligned/untrimmed'
ann_file = data_root + '/annotations.json'
video_dir = data_root + '/videos'
# the aligned regime's pretrained backbone as the repository ships it (data seed 0;
# checkpoints/synthetic/README.md); the tool passes the one each run uses
pretrained = 'checkpoints/synthetic/aligned-a67fca961a6f.pth'

num_classes = 5
clip_len = 16
frame_interval = 1
frames_per_cell = 2
num_clips = 8
window_frames = num_clips * clip_len * frame_interval
# every data worker keeps the videos it decoded (64 x 64: ~300 MB for the 96 videos) and
# slices windows out of them; the same frames, decoded once instead of every epoch
decoded_cache_mb = 1024

model = dict(
    type='TALDetector',
    data_preprocessor=dict(type='TALDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], pad_multiple=clip_len),
    backbone=dict(
        type='LayerTapViT',
        vit={{_base_.vit}},
        tap_layers=[-1],  # head-only: the last block only
        clip_len=clip_len,
        clip_batch=8,
        frozen=True,
        fused_attention=True,
        with_cp=False,
        pretrained=pretrained),
    neck=dict(type='LastLayerNeck'),
    # ActionFormer of ../_base_/models/actionformer.py (same losses), sized for 64 cells
    head=dict(
        num_classes=num_classes,
        in_channels=96,
        embed_dims=96,
        head_dims=96,
        arch=(2, 1, 3),
        n_mha_win_size=9,
        regress_ranges=((0, 4), (4, 8), (8, 16), (16, 10000)),
        proj_drop=0.0,
        drop_path=0.0,
        test_cfg=dict(pre_nms_topk=1000, nms=dict(max_num=100))))

train_pipeline = [
    dict(type='SampleVideoWindow', clip_len=clip_len, frame_interval=frame_interval,
         num_clips=num_clips, frames_per_cell=frames_per_cell, trunc_thresh=0.5),
    dict(type='DecodeVideoWindow', cache_mb=decoded_cache_mb),
    # no Flip: the classes are mirror pairs (a flip turns MoveRight into MoveLeft)
    dict(type='PackTALInputs'),
]
test_pipeline = [
    dict(type='SampleVideoWindow', clip_len=clip_len, frame_interval=frame_interval,
         num_clips=num_clips, frames_per_cell=frames_per_cell, test_mode=True),
    dict(type='DecodeVideoWindow', cache_mb=decoded_cache_mb),
    dict(type='PackTALInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='THUMOS14Dataset', ann_file=ann_file, subset='Validation',
                 input_type='video', data_prefix=dict(video=video_dir),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='THUMOS14Dataset', ann_file=ann_file, subset='Test',
                 input_type='video', data_prefix=dict(video=video_dir),
                 test_window=dict(size=window_frames, overlap=0.25), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='TALMetric', ann_file=ann_file, subset='Test',
                     tiou_thresholds=[0.3, 0.4, 0.5, 0.6, 0.7])
test_evaluator = val_evaluator

# One schedule for every strategy (a fair comparison): AdamW, 1 warm-up epoch from lr 0
# (as ActionFormer's), cosine. No EMA: ActionFormer evaluates an EMA of decay 0.999, which
# after 320 steps would still weigh the initial weights by 0.999**320 = 0.73.
max_epochs = 10
warmup_epochs = 1
# LoSA's scalar gates learn at 10x the lr on this short schedule (the paper configs keep
# the paper's one lr; docs/method.md, "Gates"): under AdamW a gate moves at most ~lr a
# step, so over these 320 steps at most ~1.7 at 10x (~0.17 at 1x).
gate_lr_mult = 10.0
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    # foreach: the same updates bit for bit, one kernel per group instead of per tensor
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05,
                   foreach=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'.scale': dict(decay_mult=0.0),
                                    'fusion.gates': dict(decay_mult=0.0,
                                                         lr_mult=gate_lr_mult)}),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='ClosedFormLinearLR', start_factor=0.0, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1,
                    save_best=None))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
