# SlowFast-101 reading: slow and fast stage 4 (ids 7, 8) are the two halves of layer N
# itself (N = their fusion), so only stages 1-3 (ids 1..6) count as intermediate and get
# adapters; keys / values still from F'_N. C = 512: 5.8 M backbone-side learnable
# parameters (paper: 12 M). docs/method.md, "Parameter budget".
_base_ = ['../losa_slowfast101_thumos14.py']
model = dict(neck=dict(adapter_layers=[1, 2, 3, 4, 5, 6]))
