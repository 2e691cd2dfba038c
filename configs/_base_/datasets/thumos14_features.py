# THUMOS-14, head-only setting on pre-extracted features (ActionFormer's I3D pack):
# features every 4 frames, each covering 16 frames (grid cell 0 at frame 8), stored as
# [T, C] .npy files named <video_id>.npy. Train on the 'Validation' videos with random
# windows of at most 2304 steps (ActionFormer's max_seq_len; videos that fit are cropped
# to 90-100 % of their length); a window keeps a ground-truth segment only when half of
# it lies in the window widened by 2 steps each side (half a feature's 16 frames;
# ActionFormer's truncate_feats). Test on 'Test' at full length (no windows).
#
# Paths (docs/data.md): every path is relative to data_root, in the datasets and the
# evaluators alike. ann_file may be ActionFormer's thumos14.json or OpenTAD's
# thumos_14_anno.json as they are (its 'training' / 'validation' subsets are found under
# 'Validation' / 'Test', its fps from frame counts, its 'Ambiguous' segments dropped).
# Checkpoint: the last epoch (default_runtime.py); see
# thumos14_features_heldout-val.py for a checkpoint chosen on held-out training videos.
dataset_type = 'THUMOS14Dataset'
data_root = 'data/thumos14'
ann_file = 'annotations/thumos14.json'
class_names = None  # derived from the file: label_id order (= sorted names), 20 classes
feature_dir = 'i3d_features'
feature_stride = 4
frames_per_feature = 16
max_seq_len = 2304

train_pipeline = [
    dict(type='LoadTALFeature', format='TC'),
    dict(type='RandomTruncateFeature', max_seq_len=max_seq_len, trunc_thresh=0.5,
         crop_ratio=(0.9, 1.0)),
    dict(type='PackTALInputs'),
]
test_pipeline = [
    dict(type='LoadTALFeature', format='TC'),
    dict(type='PackTALInputs'),
]

dataset_common = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file=ann_file,
    class_names=class_names,
    data_prefix=dict(feature=feature_dir),
    input_type='feature',
    feature_stride=feature_stride,
    frames_per_feature=frames_per_feature)

# batch_size is per GPU (per process): the global batch is batch_size x world size.
# ActionFormer trains THUMOS-14 with 2 videos per batch and tests one video at a time.
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    # per-sample seeds of the random windows: exact resume (docs/robustness.md)
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(**dataset_common, subset='Validation', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(**dataset_common, subset='Test', test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='TALMetric',
    data_root=data_root,
    ann_file=ann_file,
    class_names=class_names,
    subset='Test',
    tiou_thresholds=[0.3, 0.4, 0.5, 0.6, 0.7],
    recall_topk=(1, 5))  # ActionFormer's Recall@1x / @5x
test_evaluator = val_evaluator
