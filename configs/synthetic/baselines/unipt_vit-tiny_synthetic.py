# UniPT on the synthetic benchmark: the frozen pretrained tiny ViT with every block
# tapped (no gradient into it) and the UniPT parallel network as the neck (projections
# to C/2, cross-attention from the last layer over each temporal token's positions,
# confidence aggregation); same head, data and schedule (a model delta over the base, as
# configs/baselines/unipt_*).
_base_ = ['../base_tal_vit-tiny_synthetic.py']
model = dict(backbone=dict(tap_layers=None),
             neck=dict(_delete_=True, type='UniPTNeck', downsample_factor=2,
                       token_scope='frame'))
