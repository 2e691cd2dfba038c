# LoSA on a frozen VideoMAEv2 ViT-g, ActivityNet-v1.3 (paper: avg mAP 38.6).
_base_ = ['./losa_videomaev2-b_activitynet13.py']
model = dict(
    backbone=dict(
        vit=dict(patch_size=14, embed_dims=1408, depth=40, num_heads=16, mlp_ratio=48 / 11),
        clip_batch=2, dtype='bf16',
        pretrained='checkpoints/videomaev2_vit_g_hybrid_k710_ft_mmaction.pth'),
    neck=dict(in_channels=1408), head=dict(in_channels=1408))
