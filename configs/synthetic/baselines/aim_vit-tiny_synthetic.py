# AIM on the synthetic benchmark: temporal (the block's own attention along time),
# spatial and joint adapters (ratio 0.25, s = 0.5) in every block of the frozen
# pretrained tiny ViT, gradients through the frozen backbone; last layer into the same
# head, same data and schedule (a model delta over the base, as configs/baselines/aim_*).
_base_ = ['../base_tal_vit-tiny_synthetic.py']
model = dict(backbone=dict(type='PEFTLayerTapViT',
                           adapter=dict(type='AIMAdapter', ratio=0.25, scale=0.5,
                                        num_tadapter=1)))
