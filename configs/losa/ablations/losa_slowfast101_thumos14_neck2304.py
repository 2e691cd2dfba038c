# SlowFast-101 reading: the neck at F_N's own width (C = 2304, F_N the pooled fused output
# without a projection; the earlier default): 34.9 M backbone-side learnable parameters
# (paper: 12 M), Proj alone 10.6 M. docs/method.md, "Parameter budget".
_base_ = ['../losa_slowfast101_thumos14.py']
model = dict(neck=dict(out_channels=None), head=dict(in_channels=_base_.last_channels))
