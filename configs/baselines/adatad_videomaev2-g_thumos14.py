# AdaTAD baseline (Liu et al., CVPR 2024): the temporal-informative adapter (TIA, r =
# C/4, temporal kernel 3 across the whole window) after every block of a frozen
# VideoMAEv2 ViT-g (bf16 autocast, as the LoSA ViT-g config), gradients through the
# frozen backbone with activation checkpointing per block, all clips of a window through
# each block together (the adapter crosses clips); the last layer's F_N into the same
# ActionFormer head, same data and schedule as LoSA. See docs/baselines.md.
_base_ = ['../losa/losa_videomaev2-g_thumos14.py']
# (LoSA's tap recompute, on in the ViT-g LoSA configs, needs LoSA's per-clip spatial
# blocks: off here.)
model = dict(
    backbone=dict(type='PEFTLayerTapViT', tap_layers=[-1], with_cp=True, tap_recompute=False,
                  adapter=dict(type='TIAdapter', ratio=0.25, kernel_size=3)),
    neck=dict(_delete_=True, type='LastLayerNeck'))
