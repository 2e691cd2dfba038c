# UniPT baseline (Diao et al., CVPR 2024; LoSA Table 2) on a frozen VideoMAEv2 ViT-B: a
# parallel network over every tapped layer (no gradient into the backbone, which runs
# under no_grad as for LoSA): per-layer projections to C/2, parameter-free cross-
# attention from the last layer over each temporal token's spatial positions, confidence
# aggregation; its output into the same ActionFormer head, same data and schedule as
# LoSA. See docs/baselines.md.
_base_ = ['../losa/losa_videomaev2-b_thumos14.py']
model = dict(neck=dict(_delete_=True, type='UniPTNeck', downsample_factor=2,
                       token_scope='frame'))
