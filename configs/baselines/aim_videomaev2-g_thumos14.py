# AIM baseline (Yang et al., ICLR 2023; LoSA Table 2) on a frozen VideoMAEv2 ViT-g (bf16
# autocast, as the LoSA ViT-g config): temporal, spatial and joint adapters in every
# block, the temporal one reusing the block's own frozen token mixer along time (ratio
# 0.25 and s = 0.5 as the released code); gradients through the frozen backbone to the
# adapters; the last layer's F_N into the same ActionFormer head, same data and schedule
# as LoSA. See docs/baselines.md.
_base_ = ['../losa/losa_videomaev2-g_thumos14.py']
# (LoSA's tap recompute, on in the ViT-g LoSA configs, needs LoSA's per-clip spatial
# blocks: off here.)
model = dict(
    backbone=dict(type='PEFTLayerTapViT', tap_layers=[-1], tap_recompute=False,
                  adapter=dict(type='AIMAdapter', ratio=0.25, scale=0.5, num_tadapter=1)),
    neck=dict(_delete_=True, type='LastLayerNeck'))
