# VideoMAEv2 ViT-S/16 (distilled from ViT-g): delta over ViT-B.
_base_ = ['./layer_tap_vit_b.py']
backbone = dict(
    vit=dict(embed_dims=384, num_heads=6),
    pretrained='checkpoints/videomaev2_vit_s_k710_dl_from_giant_mmaction.pth')
