# VideoMAEv2 ViT-B/16 (distilled from ViT-g, K710), frozen, all 12 blocks tapped.
# Experiments inherit this file (or a size variant) and place it with
# `model = dict(backbone={{_base_.backbone}}, ...)`. Weights: convert the released checkpoint with
#   python tools/convert_videomaev2.py vit_b_k710_dl_from_giant.pth <pretrained>
backbone = dict(
    type='LayerTapViT',
    vit=dict(
        type='VisionTransformer',
        img_size=224,
        patch_size=16,
        embed_dims=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4,
        qkv_bias=True,
        num_frames=16,
        tubelet_size=2,
        norm_cfg=dict(type='LN', eps=1e-6),
        use_mean_pooling=True),
    tap_layers=None,  # 1-based block ids; None = all
    clip_len=16,
    clip_batch=4,
    frozen=True,
    fused_attention=True,
    dtype=None,
    with_cp=False,
    tap_reduce=None,
    pretrained='checkpoints/videomaev2_vit_b_k710_dl_from_giant_mmaction.pth')
