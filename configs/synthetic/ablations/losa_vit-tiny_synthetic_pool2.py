# Memory mode (docs/efficiency.md): taps average-pooled to 2x2 inside the clip loop; the
# neck's learned spatial conv runs on that grid.
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(backbone=dict(tap_reduce='spatial_pool', tap_pool_size=2))
