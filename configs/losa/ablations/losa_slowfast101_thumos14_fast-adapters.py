# Adapters on the fast pathway's four stages only (ids 2, 4, 6, 8): the reading nearest the
# paper's 12 M learnable parameters for SlowFast-101 (12.9 M backbone-side, against 34.9 M
# with adapters on all eight stage taps); docs/method.md, "Parameter budget".
_base_ = ['../losa_slowfast101_thumos14.py']
model = dict(neck=dict(adapter_layers=[2, 4, 6, 8]))
