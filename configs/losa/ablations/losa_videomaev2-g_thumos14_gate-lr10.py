# Gates at 10x the base learning rate (not in the paper, which states one lr): each can move
# at most ~1.75 instead of ~0.175 over the THUMOS-14 schedule on one GPU at batch 2
# (docs/method.md, "Gate learning rate").
_base_ = ['../losa_videomaev2-g_thumos14.py']
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'fusion.gates': dict(lr_mult=10.0)}))
