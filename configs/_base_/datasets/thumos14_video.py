# THUMOS-14 from raw videos, for end-to-end / LoSA training (docs/data.md).
# Paper settings: 224 x 224 frames, clips of T' = 16 frames, at most 576 features a window.
# A tubelet-2 ViT gives clip_len / frames_per_cell = 8 features per clip, so a window is
# 576 / 8 = 72 clips = 1152 sampled frames; sampling every 2nd frame makes a feature
# every feature_stride = 4 frames (as ActionFormer's THUMOS-14 features) and a window
# 2304 frames (~77 s at 30 fps). Models whose last layer has another temporal size
# (SlowFast) override frames_per_cell and num_clips.
#
# Paths (docs/data.md): every path is relative to data_root, in the datasets and the
# evaluators alike (ActionFormer's thumos14.json or OpenTAD's thumos_14_anno.json, as
# they are). Checkpoint: the last epoch (default_runtime.py).
dataset_type = 'THUMOS14Dataset'
data_root = 'data/thumos14'
ann_file = 'annotations/thumos14.json'
class_names = None  # derived from the file: label_id order (= sorted names), 20 classes
video_dir = 'videos'  # <video_id>.mp4

clip_len = 16
frame_interval = 2
frames_per_cell = 2
max_seq_len = 576
num_clips = max_seq_len * frames_per_cell // clip_len  # 72 clips a window
window_frames = num_clips * clip_len * frame_interval  # original frames a window spans
img_size = 224

train_pipeline = [
    dict(type='SampleVideoWindow', clip_len=clip_len, frame_interval=frame_interval,
         num_clips=num_clips, frames_per_cell=frames_per_cell, trunc_thresh=0.5,
         crop_ratio=(0.9, 1.0)),
    dict(type='DecodeVideoWindow'),
    # MMAction2's transforms draw one parameter set per window (temporally consistent)
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    # AutoAugment with one policy draw for all frames of the window
    dict(type='ConsistentAugment', transforms=[dict(type='mmdet.AutoAugment')]),
    dict(type='PackTALInputs'),
]
test_pipeline = [
    dict(type='SampleVideoWindow', clip_len=clip_len, frame_interval=frame_interval,
         num_clips=num_clips, frames_per_cell=frames_per_cell, test_mode=True),
    dict(type='DecodeVideoWindow'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackTALInputs'),
]

# batch sizes are per GPU (per process)
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    # per-sample seeds of the random windows: exact resume (docs/robustness.md)
    sampler=dict(type='SeededSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        class_names=class_names,
        subset='Validation',  # THUMOS-14 trains on its validation videos
        input_type='video',
        data_prefix=dict(video=video_dir),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        class_names=class_names,
        subset='Test',
        input_type='video',
        data_prefix=dict(video=video_dir),
        # sliding windows in original frames; the metric merges them per video
        test_window=dict(size=window_frames, overlap=0.25),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='TALMetric', data_root=data_root, ann_file=ann_file,
                     class_names=class_names, subset='Test',
                     tiou_thresholds=[0.3, 0.4, 0.5, 0.6, 0.7],
                     recall_topk=(1, 5))  # ActionFormer's Recall@1x / @5x
test_evaluator = val_evaluator
