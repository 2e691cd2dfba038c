# Full fine-tuning baseline: gradients through the whole backbone (activation
# checkpointing per block), last layer only into the same head. Backbone lr x0.1.
_base_ = ['../losa/losa_videomaev2-g_activitynet13.py']
# (LoSA's tap recompute, on in the ViT-g LoSA configs, needs LoSA's per-clip spatial
# blocks: off here.)
model = dict(backbone=dict(frozen=False, with_cp=True, dtype=None, tap_layers=[-1],
                           tap_recompute=False),
             neck=dict(_delete_=True, type='LastLayerNeck'))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
