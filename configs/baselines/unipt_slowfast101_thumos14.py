# UniPT baseline (Diao et al., CVPR 2024; LoSA Table 2) on a frozen SlowFast-101: a
# parallel network over every tapped layer (no gradient into the backbone, which runs
# under no_grad as for LoSA): per-layer projections to C/2, parameter-free cross-
# attention from the last layer over each temporal token's spatial positions, confidence
# aggregation; its output into the same ActionFormer head, same data and schedule as
# LoSA. Output at the SlowFast neck width (512, the head's input as for every SlowFast
# strategy), the mapping at the released C_N / 2 = 1152. See docs/baselines.md.
_base_ = ['../losa/losa_slowfast101_thumos14.py']
model = dict(neck=dict(_delete_=True, type='UniPTNeck', out_channels=_base_.neck_channels,
                       mapping_channels=_base_.last_channels // 2, token_scope='frame'))
