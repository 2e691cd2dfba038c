# ActivityNet-v1.3 from raw videos, for end-to-end / LoSA training (docs/data.md).
# Every video is resampled to one window of num_clips * clip_len frames (the usual
# ActivityNet practice of a fixed number of features per video), so there are no
# sliding windows and feature_stride = frames_per_cell * num_frames / window frames
# varies per video. 576 features at most (the paper's max sequence; ActionFormer's
# feature setting used 192) = 72 clips of 16 frames for a tubelet-2 ViT.
#
# Paths (docs/data.md): every path is relative to data_root, in the datasets and the
# evaluators alike. ann_file: the official activity_net.v1-3.min.json or MMAction2's
# anet_anno_{train,val}.json, as they are. YouTube videos come as .mp4, .mkv or .webm
# and some are gone: missing videos are skipped (named; at most max_missing_fraction).
# Checkpoint: the last epoch (default_runtime.py).
dataset_type = 'ActivityNetTALDataset'
data_root = 'data/activitynet13'
ann_file = 'annotations/activity_net.v1-3.min.json'
class_names = None  # sorted names of the file, or a class file: one name a line
video_dir = 'videos'  # v_<video_id>.{mp4,mkv,webm}
video_ext = ('.mp4', '.mkv', '.webm')

clip_len = 16
frames_per_cell = 2
max_seq_len = 576
num_clips = max_seq_len * frames_per_cell // clip_len  # 72 clips
img_size = 224

train_pipeline = [
    dict(type='SampleVideoWindow', clip_len=clip_len, num_clips=num_clips,
         frames_per_cell=frames_per_cell, mode='resize'),
    dict(type='DecodeVideoWindow'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='ConsistentAugment', transforms=[dict(type='mmdet.AutoAugment')]),
    dict(type='PackTALInputs'),
]
test_pipeline = [
    dict(type='SampleVideoWindow', clip_len=clip_len, num_clips=num_clips,
         frames_per_cell=frames_per_cell, mode='resize', test_mode=True),
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
        subset='training',
        class_names=class_names,
        # True trains a one-class detector for external class scores (see the evaluator)
        class_agnostic=False,
        input_type='video',
        file_prefix='v_',
        video_ext=video_ext,
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
        subset='validation',
        class_names=class_names,
        input_type='video',
        file_prefix='v_',
        video_ext=video_ext,
        data_prefix=dict(video=video_dir),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='TALMetric', data_root=data_root, ann_file=ann_file,
                     subset='validation',
                     class_names=class_names,
                     tiou_thresholds=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
                     # ActionFormer / OpenTAD protocol: video-level class scores (e.g.
                     # CUHK's cuhk_val_simp_7.json) give a class-agnostic detector's
                     # segments their top-2 classes (docs/evaluation.md); the experiment
                     # configs switch this, class_agnostic and num_classes together.
                     ext_score_file=None,
                     ext_score_topk=2)
test_evaluator = val_evaluator
