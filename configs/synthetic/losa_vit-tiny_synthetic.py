# LoSA: the same frozen backbone, every block tapped, the Long-Short-range Adapter neck
# (paper settings: 4 heads, bottleneck C/4, adapters on all intermediate layers,
# zero-initialised gates, short range = own clip +- 1). Position encodings with periods
# from 2.5 to 128 tokens (twice the window's 64): a head here has only 2-3 frequencies
# (bottleneck 16-24 wide, 4 heads), and a 10000-token period would be constant over the
# window (docs/method.md, "Position encodings").
_base_ = ['./base_tal_vit-tiny_synthetic.py']
model = dict(
    backbone=dict(tap_layers=None),
    neck=dict(_delete_=True, type='LoSANeck', adapter_layers='all', n_heads=4,
              adapter_ratio=0.25, short_range_clips=1, use_short=True, use_long=True,
              fusion='gated', gate_init='zero', pos_max_period=128.0))
