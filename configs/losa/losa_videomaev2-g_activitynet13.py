# LoSA on a frozen VideoMAEv2 ViT-g, ActivityNet-v1.3 (paper: avg mAP 38.6).
_base_ = [
    '../_base_/models/backbones/layer_tap_vit_g.py',
    '../_base_/models/losa_actionformer.py',
    '../_base_/datasets/activitynet13_video.py',
    '../_base_/schedules/adamw_cosine_activitynet13.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone={{_base_.backbone}},
    head=dict(in_channels=1408, num_classes=200, n_mha_win_size=-1,
              # ActionFormer's ActivityNet post-processing: class-agnostic soft-NMS,
              # score x tIoU voting (docs/actionformer.md)
              test_cfg=dict(multiclass_nms=False, duration_thresh=0.001,
                            nms=dict(sigma=0.75, max_num=100, voting_thresh=0.9))))
