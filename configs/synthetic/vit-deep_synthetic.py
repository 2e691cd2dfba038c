# The transfer regime's backbone (docs/synthetic_benchmark.md, "The transfer regime"):
# the tiny ViT of vit-tiny_synthetic.py made deeper and narrower, 8 blocks of width 64
# (2 heads), so that intermediate layers can differ from the last one, at the same cost a
# training step as the aligned regime's 4 blocks of width 96 (measured: 0.14 s a step of
# 16 clips on one core for both). Same clips and tokens: 16 frames, tubelets of
# 2 x 16 x 16 pixels -> 8 x 4 x 4 tokens a clip. The variable is named vit_deep so that a
# config can take it next to the aligned `vit` through _base_.
vit_deep = dict(
    type='VisionTransformer',
    img_size=64,
    patch_size=16,
    embed_dims=64,
    depth=8,
    num_heads=2,
    mlp_ratio=4,
    qkv_bias=True,
    num_frames=16,
    tubelet_size=2,
    drop_path_rate=0.0,
    norm_cfg=dict(type='LN', eps=1e-6),
    use_mean_pooling=True)
