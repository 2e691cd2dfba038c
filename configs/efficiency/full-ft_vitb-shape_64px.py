# Full fine-tuning at the measurement size, as configs/baselines/full-ft_*: gradients
# through the backbone with per-block activation checkpointing, last layer only.
_base_ = ['./losa_vitb-shape_64px.py']
model = dict(backbone=dict(frozen=False, with_cp=True, dtype=None, tap_layers=[-1]),
             neck=dict(_delete_=True, type='LastLayerNeck'))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
