# Memory mode "stream" at the paper's setting: spatial mean inside the clip loop, and the
# neck's spatial blocks reduced to mean + projection + LayerNorm.
_base_ = ['../losa/losa_videomaev2-b_thumos14.py']
model = dict(backbone=dict(tap_reduce='spatial_mean'),
             neck=dict(spatial_cfg=dict(mode='mean')))
