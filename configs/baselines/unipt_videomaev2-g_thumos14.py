# UniPT baseline (Diao et al., CVPR 2024; LoSA Table 2) on a frozen VideoMAEv2 ViT-g
# (bf16 autocast, as the LoSA ViT-g config): a parallel network over every tapped layer
# (no gradient into the backbone, which runs under no_grad as for LoSA): per-layer
# projections to C/2, parameter-free cross-attention from the last layer, confidence
# aggregation; its output into the same ActionFormer head, same data and schedule as
# LoSA. See docs/baselines.md.
_base_ = ['../losa/losa_videomaev2-g_thumos14.py']
# (LoSA's tap recompute, on in the ViT-g LoSA configs, needs LoSA's per-clip spatial
# blocks: off here.)
model = dict(backbone=dict(tap_recompute=False),
             neck=dict(_delete_=True, type='UniPTNeck', downsample_factor=2,
                       token_scope='frame'))
