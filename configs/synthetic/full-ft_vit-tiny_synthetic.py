# Full fine-tuning: gradients through the whole backbone, last layer into the same head.
# Backbone lr x0.1 (the pretrained weights should move less than the fresh head).
_base_ = ['./base_tal_vit-tiny_synthetic.py']
model = dict(backbone=dict(frozen=False))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
