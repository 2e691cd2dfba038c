# LoSA on a frozen VideoMAEv2 ViT-g (1.01 B), THUMOS-14 (paper: avg mAP 71.0, 40.6 GB).
_base_ = [
    '../_base_/models/backbones/layer_tap_vit_g.py',
    '../_base_/models/losa_actionformer.py',
    '../_base_/datasets/thumos14_video.py',
    '../_base_/schedules/adamw_cosine_thumos14.py',
    '../_base_/default_runtime.py',
]
# Each clip's taps are recomputed in the backward pass instead of stored
# (tap_recompute, docs/efficiency.md section 2c): the same model and gradients
# at 10.3 instead of 40.8 GiB (estimated) for one more frozen forward a step;
# configs/efficiency/losa_videomaev2-g_thumos14_stored-taps.py stores them.
model = dict(backbone=dict(_base_.backbone, tap_recompute=True),
             head=dict(in_channels=1408))
