# LoSA on a frozen VideoMAEv2 ViT-B, THUMOS-14 from raw videos (paper: avg mAP 67.3).
_base_ = [
    '../_base_/models/backbones/layer_tap_vit_b.py',
    '../_base_/models/losa_actionformer.py',
    '../_base_/datasets/thumos14_video.py',
    '../_base_/schedules/adamw_cosine_thumos14.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone={{_base_.backbone}}, head=dict(in_channels=768))
