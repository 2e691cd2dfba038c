# LoSA on ViT-g at the paper's setting with every clip's taps stored until the backward
# pass (the mode the paper's 40.6 GB fits: 40.8 GiB estimated, docs/efficiency.md
# section 5) instead of recomputed, the default of configs/losa/losa_videomaev2-g_*:
# about half the step time where an 80 GB GPU holds it.
_base_ = ['../losa/losa_videomaev2-g_thumos14.py']
model = dict(backbone=dict(tap_recompute=False))
