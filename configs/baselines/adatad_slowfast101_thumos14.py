# AdaTAD baseline (Liu et al., CVPR 2024): the temporal-informative adapter (TIA, r =
# C/4, temporal kernel 3 across the whole window) after every block of a frozen
# SlowFast-101, gradients through the frozen backbone with activation checkpointing per
# block, all clips of a window through each block together (the adapter crosses clips);
# the last layer's F_N into the same ActionFormer head, same data and schedule as LoSA.
# See docs/baselines.md.
_base_ = ['../losa/losa_slowfast101_thumos14.py']
model = dict(
    backbone=dict(type='PEFTLayerTapSlowFast', tap_layers=[-1], with_cp=True,
                  adapter=dict(type='TIAdapter', ratio=0.25, kernel_size=3)),
    neck=dict(_delete_=True, **_base_.last_layer_neck))
