# Memory mode "stream": taps are averaged over space inside the clip loop
# ([B, T, T_i, C] instead of [B, T, T_i, H_i, W_i, C]); the neck's spatial blocks become
# mean + projection + LayerNorm (no depthwise conv: nothing spatial is left for it).
_base_ = ['./losa_vitb-shape_64px.py']
model = dict(backbone=dict(tap_reduce='spatial_mean'),
             neck=dict(spatial_cfg=dict(mode='mean')))
