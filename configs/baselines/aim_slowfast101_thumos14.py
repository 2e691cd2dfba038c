# AIM baseline (Yang et al., ICLR 2023; LoSA Table 2) on a frozen SlowFast-101: temporal,
# spatial and joint adapters in every residual block, the temporal one reusing the block's
# frozen conv2 along time (the Bottleneck3d reading in peft/aim_adapter.py). Ratio 0.5:
# the width nearest the LoSA paper's Table 2 budget (10.6 M vs 10 M; the released 0.25
# gives 5.3 M); s = 0.5. Gradients through the frozen backbone to the adapters; the last
# layer's F_N into the same ActionFormer head, same data and schedule as LoSA. See
# docs/baselines.md.
_base_ = ['../losa/losa_slowfast101_thumos14.py']
model = dict(
    backbone=dict(type='PEFTLayerTapSlowFast', tap_layers=[-1],
                  adapter=dict(type='AIMAdapter', ratio=0.5, scale=0.5, num_tadapter=1)),
    neck=dict(_delete_=True, **_base_.last_layer_neck))
