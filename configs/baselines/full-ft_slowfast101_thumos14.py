# Full fine-tuning baseline: gradients through the whole backbone (activation
# checkpointing per block), last layer only into the same head. Backbone lr x0.1.
_base_ = ['../losa/losa_slowfast101_thumos14.py']
model = dict(backbone=dict(frozen=False, with_cp=True, dtype=None, tap_layers=[-1]),
             neck=dict(_delete_=True, **_base_.last_layer_neck))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
