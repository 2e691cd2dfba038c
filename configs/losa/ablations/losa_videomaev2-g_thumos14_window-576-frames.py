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
# the dataset base's pipelines with this window sampler
train_pipeline = [
    dict(**window, trunc_thresh=0.5, crop_ratio=(0.9, 1.0)),
    dict(type='DecodeVideoWindow'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='ConsistentAugment', transforms=[dict(type='mmdet.AutoAugment')]),
    dict(type='PackTALInputs'),
]
test_pipeline = [
    dict(**window, test_mode=True),
    dict(type='DecodeVideoWindow'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackTALInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    test_window=dict(size=num_clips * clip_len * frame_interval), pipeline=test_pipeline))
test_dataloader = val_dataloader
