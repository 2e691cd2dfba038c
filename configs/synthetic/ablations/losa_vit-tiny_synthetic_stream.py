# Memory mode (docs/efficiency.md): streaming spatial mean inside the clip loop; the neck's
# spatial block is then a plain mean (no learned conv).
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(backbone=dict(tap_reduce='spatial_mean'), neck=dict(spatial_cfg=dict(mode='mean')))
