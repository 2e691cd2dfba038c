# "Max sequence length of 576 frames" read literally: 576 sampled frames (36 clips of
# T' = 16, every 2nd frame) = 288 head positions a window; the default reads 576 as head
# positions (72 clips). docs/method.md, "Window length".
_base_ = ['../losa_videomaev2-g_thumos14.py']
clip_len = 16
frame_interval = 2
frames_per_cell = 2
num_clips = 576 // clip_len
window = dict(type='SampleVideoWindow', clip_len=clip_len, frame_interval=frame_interval,
              num_clips=num_clips, frames_per_cell=frames_per_cell)
# the base's pipelines with this window sampler in front
train_pipeline = [dict(**window, trunc_thresh=0.5, crop_ratio=(0.9, 1.0))] + \
    _base_.train_pipeline[1:]
test_pipeline = [dict(**window, test_mode=True)] + _base_.test_pipeline[1:]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    test_window=dict(size=num_clips * clip_len * frame_interval), pipeline=test_pipeline))
test_dataloader = val_dataloader
