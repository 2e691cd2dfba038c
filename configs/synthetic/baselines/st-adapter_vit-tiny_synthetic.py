# ST-Adapter on the synthetic benchmark: one adapter (r = C/2, depth-wise kernel 3x1x1)
# before the attention of every block of the frozen pretrained tiny ViT, gradients
# through the frozen backbone; last layer into the same head, same data and schedule as
# the other strategies (a model delta over the base, as configs/baselines/st-adapter_*).
_base_ = ['../base_tal_vit-tiny_synthetic.py']
model = dict(backbone=dict(type='PEFTLayerTapViT',
                           adapter=dict(type='STAdapter', ratio=0.5, kernel_size=(3, 1, 1),
                                        position='attn')))
