# LoSA on a frozen VideoMAEv2 ViT-g (1.01 B), THUMOS-14 (paper: avg mAP 71.0, 40.6 GB).
_base_ = [
    '../_base_/models/backbones/layer_tap_vit_g.py',
    '../_base_/models/losa_actionformer.py',
    '../_base_/datasets/thumos14_video.py',
    '../_base_/schedules/adamw_cosine_thumos14.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone={{_base_.backbone}}, head=dict(in_channels=1408))
