# Pretraining of the tiny ViT as an MMAction2 action recognizer on the synthetic trimmed
# clips (the stand-in for VideoMAEv2's Kinetics pretraining). The checkpoint's backbone.*
# keys are what LayerTapViT(pretrained=...) loads in the TAL configs.
#
#   python tools/train.py configs/synthetic/pretrain_vit-tiny_synthetic-trimmed.py \
#       --cfg-options data_root=... (tools/synthetic_benchmark.py sets the paths)
#
# No augmentation beyond the random temporal crop (every clip is a fresh random scene).
# No Flip: MoveRight / MoveLeft are a mirror pair (a horizontal flip would swap them).
# The transfer regime's 8-block backbone comes in through the tool's overrides
# (Regime.pretrain_model_overrides).
_base_ = ['../_base_/default_runtime.py', './vit-tiny_synthetic.py']

# what `bash tools/run_main.sh` writes (data seed 0; the folder is named by the clips'
# generator config, losa_plugin/synthetic/benchmark_steps.py, trimmed_dir)
data_root = 'work_dirs/synthetic_benchmark/data/full-s0/trimmed-fa9c35f6'
num_classes = 5
# every data worker keeps the clips it decoded (~500 MB for 1,500 clips of 64 x 64) and
# slices frames out of them: the same frames as DecordInit + DecordDecode, decoded once
decoded_cache_mb = 1024

model = dict(
    type='Recognizer3D',
    backbone={{_base_.vit}},
    cls_head=dict(type='TimeSformerHead', num_classes=num_classes, in_channels=96,
                  average_clips='prob', dropout_ratio=0.1),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCTHW'))

train_pipeline = [
    dict(type='CachedDecordInit', cache_mb=decoded_cache_mb),
    dict(type='SampleFrames', clip_len={{_base_.clip_len}}, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=({{_base_.img_size}}, {{_base_.img_size}}), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='CachedDecordInit', cache_mb=decoded_cache_mb),
    dict(type='SampleFrames', clip_len={{_base_.clip_len}}, frame_interval=1, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=({{_base_.img_size}}, {{_base_.img_size}}), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VideoDataset', ann_file=data_root + '/train_list.txt',
                 data_prefix=dict(video=data_root + '/clips'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', ann_file=data_root + '/val_list.txt',
                 data_prefix=dict(video=data_root + '/clips'), pipeline=val_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

# The benchmark's full schedule (losa_plugin/synthetic/benchmark.py, FULL): the tiny ViT
# sits at chance for a seed-dependent ~900 to 2,000+ steps and then learns abruptly, so
# the lr stays constant after a 2-epoch warm-up until the val top-1 first reaches 50 %,
# 6 more epochs, then decays (cosine) over 6 epochs and training stops, on a plateau
# (TakeoffLRSchedule; at most 60 epochs). Validated every epoch (the curve is in
# results.json); every epoch's checkpoint replaces the previous one (last_checkpoint).
custom_imports = dict(imports=['losa_plugin', 'losa_plugin.synthetic.takeoff_schedule'],
                      allow_failed_imports=False)
max_epochs = 60
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
]
custom_hooks = [dict(type='TakeoffLRSchedule', takeoff=0.5, hold_epochs=6, decay_epochs=6)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best=None))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
