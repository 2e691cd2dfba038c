# ViT-L/16: delta over ViT-B.
_base_ = ['./layer_tap_vit_b.py']
backbone = dict(
    vit=dict(embed_dims=1024, depth=24, num_heads=16),
    pretrained='checkpoints/vit_l_k710_ft_mmaction.pth')
