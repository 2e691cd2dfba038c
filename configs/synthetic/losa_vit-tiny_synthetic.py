# LoSA: the same frozen backbone, every block tapped, the Long-Short-range Adapter neck
# (paper settings: 4 heads, bottleneck C/4, adapters on all intermediate layers,
# zero-initialised gates, short range = own clip +- 1).
_base_ = ['./base_tal_vit-tiny_synthetic.py']
model = dict(
    backbone=dict(tap_layers=None),
    neck=dict(_delete_=True, type='LoSANeck', adapter_layers='all', n_heads=4,
              adapter_ratio=0.25, short_range_clips=1, use_short=True, use_long=True,
              fusion='gated', gate_init='zero'))
