# LoSA on a frozen SlowFast-101 (8x8), THUMOS-14 (paper: avg mAP 58.2, 3.5 GB, 12 M learnable).
# Taps: slow / fast stages 1..4 (ids 1..8) and the fused output (id 9, N), adapters on all
# eight stage taps. Neck width C = 512 (ActionFormer's embedding width): F_N is a learnable
# Linear(2304, 512) of the pooled fused output, shared with every SlowFast baseline, and the
# adapters and Proj run at 512: 11.4 M backbone-side learnable parameters (paper: 12 M;
# docs/method.md "Parameter budget", the other readings in ablations/). Clips of the
# paper's T' = 16 frames give 2 slow steps each, so a grid cell spans 8 frames and is
# centred on the frame the slow pathway samples (cell_centre=0.5: the centre of that
# frame; docs/method.md, "SlowFast time grid"); 576 cells are 288 clips.
_base_ = [
    '../_base_/models/backbones/layer_tap_slowfast_r101.py',
    '../_base_/models/losa_actionformer.py',
    '../_base_/datasets/thumos14_video.py',
    '../_base_/schedules/adamw_cosine_thumos14.py',
    '../_base_/default_runtime.py',
]
clip_len = 16
frame_interval = 1
frames_per_cell = 8
num_clips = 576 * frames_per_cell // clip_len
window_frames = num_clips * clip_len * frame_interval
# the fused output's width and the neck's (= the head's input)
last_channels = 2304
neck_channels = 512
model = dict(
    backbone={{_base_.backbone}},
    data_preprocessor=dict(pad_multiple=clip_len),
    neck=dict(out_channels=neck_channels),
    head=dict(in_channels=neck_channels))
# F_N of the baselines: the same learnable projection of the pooled fused output
last_layer_neck = dict(type='LastLayerNeck', in_channels=last_channels,
                       out_channels=neck_channels)

window = dict(type='SampleVideoWindow', clip_len=clip_len, frame_interval=frame_interval,
              num_clips=num_clips, frames_per_cell=frames_per_cell, cell_centre=0.5)
# the dataset base's pipelines with this window sampler in front
train_pipeline = [dict(**window, trunc_thresh=0.5, crop_ratio=(0.9, 1.0))] + \
    _base_.train_pipeline[1:]
test_pipeline = [dict(**window, test_mode=True)] + _base_.test_pipeline[1:]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(test_window=dict(size=window_frames),
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
