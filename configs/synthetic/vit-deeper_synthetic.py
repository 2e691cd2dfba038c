# Candidate B of the invariant regime (docs/synthetic_benchmark.md, "The invariant
# regime"): the tiny ViT made deeper still, 12 blocks of width 48 (3 heads), for more
# blocks between the direction-selective early layers and the invariant readout. Same
# clips and tokens (16 frames, tubelets 2 x 16 x 16 -> 8 x 4 x 4 tokens a clip).
vit_deeper = dict(
    type='VisionTransformer',
    img_size=64,
    patch_size=16,
    embed_dims=48,
    depth=12,
    num_heads=3,
    mlp_ratio=4,
    qkv_bias=True,
    num_frames=16,
    tubelet_size=2,
    drop_path_rate=0.0,
    norm_cfg=dict(type='LN', eps=1e-6),
    use_mean_pooling=True)
