# SlowFast-101 on 32-frame clips, the length its Kinetics 8x8 model was trained on (4 slow /
# 32 fast steps a clip), instead of the paper's T' = 16 for every backbone (docs/method.md,
# "Clip length"); the same 576 cells a window (144 clips).
_base_ = ['../losa_slowfast101_thumos14.py']
clip_len = 32
num_clips = 576 * 8 // clip_len
window = dict(type='SampleVideoWindow', clip_len=clip_len, frame_interval=1,
              num_clips=num_clips, frames_per_cell=8, cell_centre=0.5)
model = dict(backbone=dict(clip_len=clip_len), data_preprocessor=dict(pad_multiple=clip_len))
train_pipeline = [dict(**window, trunc_thresh=0.5, crop_ratio=(0.9, 1.0))] + \
    _base_.train_pipeline[1:]
test_pipeline = [dict(**window, test_mode=True)] + _base_.test_pipeline[1:]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
