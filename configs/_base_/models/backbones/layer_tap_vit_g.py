# VideoMAEv2 ViT-g/14 (1.01 B parameters, K710 fine-tuned): delta over ViT-B. Two clips a
# micro-batch and a bf16 frozen forward keep its activations small.
_base_ = ['./layer_tap_vit_b.py']
backbone = dict(
    vit=dict(patch_size=14, embed_dims=1408, depth=40, num_heads=16, mlp_ratio=48 / 11),
    clip_batch=2,
    dtype='bf16',
    pretrained='checkpoints/videomaev2_vit_g_hybrid_k710_ft_mmaction.pth')
