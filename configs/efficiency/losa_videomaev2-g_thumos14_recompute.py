# Memory mode "recompute" for LoSA on ViT-g at the paper's setting (bf16 backbone and
# taps from the ViT-g base; the spatial blocks run per clip, the taps recomputed in the
# backward pass).
_base_ = ['../losa/losa_videomaev2-g_thumos14.py']
model = dict(backbone=dict(tap_recompute=True))
