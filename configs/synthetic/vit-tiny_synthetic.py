# A tiny VideoMAE-style ViT for the 64 x 64 synthetic videos (docs/synthetic_benchmark.md):
# 16-frame clips, tubelets of 2 x 16 x 16 pixels -> 8 x 4 x 4 tokens a clip, 4 blocks of
# width 192. The pretraining recognizer and the TAL configs share this one definition.
img_size = 64
clip_len = 16
vit = dict(
    type='VisionTransformer',
    img_size=img_size,
    patch_size=16,
    embed_dims=96,
    depth=4,
    num_heads=3,
    mlp_ratio=4,
    qkv_bias=True,
    num_frames=clip_len,
    tubelet_size=2,
    drop_path_rate=0.0,
    norm_cfg=dict(type='LN', eps=1e-6),
    use_mean_pooling=True)
