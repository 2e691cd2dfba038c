# Memory mode "bf16": backbone under bf16 autocast and taps stored in bf16 (half the tap
# memory; the neck computes in float32).
_base_ = ['./losa_vitb-shape_64px.py']
model = dict(backbone=dict(dtype='bf16'))
