# ActivityNet-v1.3, head-only setting on pre-extracted features.
#
# Unlike THUMOS-14 (fixed stride, random windows of up to 2304 steps), every
# ActivityNet video is linearly resized to a fixed 192-step grid (ResizeTALFeature;
# ActionFormer's anet_tsp.yaml: max_seq_len 192, force_upsampling) spanning the whole
# video, in training and test: the grid stride becomes duration * fps / 192 frames, so
# fps cancels out (the official file has none; default_fps only fills the field).
# Training then crops 90-100 % of the 192 steps (crop_ratio) and keeps a ground-truth
# segment only when half of it lies in the crop widened by half a step each side
# (trunc_thresh 0.5, ActionFormer's truncate_feats).
#
# Paths (docs/data.md): every path is relative to data_root, in the datasets and the
# evaluators alike. ann_file: the official activity_net.v1-3.min.json or MMAction2's
# anet_anno_{train,val}.json (each file one subset), as they are. class_names None sorts
# the 200 names of the file; a class file (one name a line, e.g. BSN's order) may be
# given instead: 'annotations/anet13_classes.txt'. file_prefix depends on the feature
# pack (many name files 'v_<id>.npy'). Missing features are skipped (named; at most
# max_missing_fraction); block_list names videos to leave out. Checkpoint: the last epoch.
dataset_type = 'ActivityNetTALDataset'
data_root = 'data/activitynet13'
ann_file = 'annotations/activity_net.v1-3.min.json'
class_names = None
feature_dir = 'features'
resize_len = 192  # ActionFormer's max_seq_len for ActivityNet

train_pipeline = [
    dict(type='LoadTALFeature', format='TC'),
    dict(type='ResizeTALFeature', length=resize_len),
    dict(type='RandomTruncateFeature', max_seq_len=resize_len, trunc_thresh=0.5,
         crop_ratio=(0.9, 1.0)),
    dict(type='PackTALInputs'),
]
test_pipeline = [
    dict(type='LoadTALFeature', format='TC'),
    dict(type='ResizeTALFeature', length=resize_len),
    dict(type='PackTALInputs'),
]

dataset_common = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file=ann_file,
    data_prefix=dict(feature=feature_dir),
    input_type='feature',
    file_prefix='',
    class_names=class_names,
    feature_stride=16,
    frames_per_feature=16,
    default_fps=15.0,
    # True trains a one-class detector for external class scores (see the evaluator)
    class_agnostic=False)

# batch_size is per GPU (per process): the global batch is batch_size x world size.
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    # per-sample seeds of the random windows: exact resume (docs/robustness.md)
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(**dataset_common, subset='training', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(**dataset_common, subset='validation', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='TALMetric',
    data_root=data_root,
    ann_file=ann_file,
    class_names=class_names,
    subset='validation',
    tiou_thresholds=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
    # ActionFormer / OpenTAD protocol: video-level class scores (e.g. CUHK's
    # cuhk_val_simp_7.json) give a class-agnostic detector's segments their top-2
    # classes, score = detection x class (docs/evaluation.md). The experiment configs
    # switch this, class_agnostic and num_classes together from one ext_score_file line.
    ext_score_file=None,
    ext_score_topk=2)
test_evaluator = val_evaluator
