# Gates at the base learning rate (gate_lr_mult 1): each can move at most ~0.175 over the
# THUMOS-14 schedule on one GPU (docs/method.md, "Gate learning rate").
_base_ = ['../losa_videomaev2-g_thumos14.py']
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'fusion.gates': dict(lr_mult=1.0)}))
