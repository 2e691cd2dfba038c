# Memory mode "pool": each tap is average-pooled to tap_pool_size x tap_pool_size inside
# the clip loop ([B, T, T_i, p, p, C] instead of [B, T, T_i, H_i, W_i, C]); the neck's
# learnable depthwise-conv spatial blocks still run, on the coarse grid. Set
# tap_pool_size=2 for the smaller variant (--cfg-options model.backbone.tap_pool_size=2).
_base_ = ['./losa_vitb-shape_64px.py']
model = dict(backbone=dict(tap_reduce='spatial_pool', tap_pool_size=4))
