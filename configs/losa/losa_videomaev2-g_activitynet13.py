# LoSA on a frozen VideoMAEv2 ViT-g, ActivityNet-v1.3 (paper: avg mAP 38.6).
_base_ = [
    '../_base_/models/backbones/layer_tap_vit_g.py',
    '../_base_/models/losa_actionformer.py',
    '../_base_/datasets/activitynet13_video.py',
    '../_base_/schedules/adamw_cosine_activitynet13.py',
    '../_base_/default_runtime.py',
]
# ActivityNet protocol of ActionFormer / OpenTAD (docs/evaluation.md): set ext_score_file
# to an external classifier's video-level scores (e.g. CUHK's cuhk_val_simp_7.json) to
# train a one-class detector and give its segments the top-2 video classes at test time
# (score = detection x class). None: a 200-class head.
ext_score_file = None
train_dataloader = dict(dataset=dict(class_agnostic=ext_score_file is not None))
val_evaluator = dict(ext_score_file=ext_score_file)
test_evaluator = dict(ext_score_file=ext_score_file)

# taps recomputed in the backward pass, not stored (as losa_videomaev2-g_thumos14.py)
model = dict(
    backbone=dict(_base_.backbone, tap_recompute=True),
    head=dict(in_channels=1408, n_mha_win_size=-1,
              num_classes=200 if ext_score_file is None else 1,
              # ActionFormer's ActivityNet post-processing: class-agnostic soft-NMS,
              # score x tIoU voting (docs/actionformer.md)
              test_cfg=dict(multiclass_nms=False, duration_thresh=0.001,
                            nms=dict(sigma=0.75, max_num=100, voting_thresh=0.9))))
