# AdaTAD's temporal-informative adapter on the synthetic benchmark: after every block of
# the frozen pretrained tiny ViT (r = C/4, temporal kernel 3 across the window's clips),
# gradients through the frozen backbone with per-block checkpointing; last layer into the
# same head, same data and schedule (a model delta over the base, as
# configs/baselines/adatad_*).
_base_ = ['../base_tal_vit-tiny_synthetic.py']
model = dict(backbone=dict(type='PEFTLayerTapViT', with_cp=True,
                           adapter=dict(type='TIAdapter', ratio=0.25, kernel_size=3)))
