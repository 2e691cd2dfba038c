# Memory mode "recompute" for LoSA on SlowFast-101 at the paper's setting (see
# configs/efficiency/losa_vitb-shape_64px_recompute.py).
_base_ = ['../losa/losa_slowfast101_thumos14.py']
model = dict(backbone=dict(tap_recompute=True))
