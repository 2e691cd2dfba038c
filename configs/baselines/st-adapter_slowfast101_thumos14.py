# ST-Adapter baseline (Pan et al., NeurIPS 2022; LoSA Table 2) on a frozen SlowFast-101:
# one adapter before the token mixer of every block (r = C_in/8 per residual block: the
# width that gives the LoSA paper's Table 2 budget (8.8 M vs 8 M; C_in/2 would be 35
# M)), gradients through the frozen backbone to the adapters; the last layer's F_N into
# the same ActionFormer head, same data and schedule as LoSA. See docs/baselines.md.
_base_ = ['../losa/losa_slowfast101_thumos14.py']
model = dict(
    backbone=dict(type='PEFTLayerTapSlowFast', tap_layers=[-1],
                  adapter=dict(type='STAdapter', ratio=0.125, kernel_size=(3, 1, 1))),
    neck=dict(_delete_=True, **_base_.last_layer_neck))
