# Memory mode "stream" for LoSA on ViT-g at the paper's setting (bf16 backbone and taps
# from the ViT-g base, spatial mean inside the clip loop, mean-only spatial blocks; the
# averaged taps are stored, not recomputed).
_base_ = ['../losa/losa_videomaev2-g_thumos14.py']
model = dict(backbone=dict(tap_reduce='spatial_mean', tap_recompute=False),
             neck=dict(spatial_cfg=dict(mode='mean')))
