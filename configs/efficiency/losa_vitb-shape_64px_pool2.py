# Memory mode "pool" with a 2 x 2 grid per tap (see losa_vitb-shape_64px_pool.py).
_base_ = ['./losa_vitb-shape_64px_pool.py']
model = dict(backbone=dict(tap_pool_size=2))
