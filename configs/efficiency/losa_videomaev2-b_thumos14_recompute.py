# Memory mode "recompute" at the paper's setting: delta over the LoSA ViT-B THUMOS-14
# config (see configs/efficiency/losa_vitb-shape_64px_recompute.py).
_base_ = ['../losa/losa_videomaev2-b_thumos14.py']
model = dict(backbone=dict(tap_recompute=True))
