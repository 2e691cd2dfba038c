# SlowFast R101 (8x8): delta over R50.
_base_ = ['./layer_tap_slowfast_r50.py']
backbone = dict(
    slowfast=dict(slow_pathway=dict(depth=101), fast_pathway=dict(depth=101)),
    pretrained='checkpoints/slowfast_r101_8xb8-8x8x1-256e_kinetics400-rgb.pth')
