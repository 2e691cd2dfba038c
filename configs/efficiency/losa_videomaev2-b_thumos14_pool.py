# Memory mode "pool" at the paper's setting: each tap average-pooled to 4 x 4 inside the
# clip loop (14 x 14 -> 4 x 4 at 224 px, 12x fewer stored values); the neck's learnable
# depthwise-conv spatial blocks still run, on the coarse grid.
_base_ = ['../losa/losa_videomaev2-b_thumos14.py']
model = dict(backbone=dict(tap_reduce='spatial_pool', tap_pool_size=4))
