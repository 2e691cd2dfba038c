# A tiny LoSA model for tests of the benchmark tool, the memory estimate and the tap
# cache: a 4-block, 192-wide ViT at 64 x 64 pixels, 16-frame clips, and a narrow
# ActionFormer head.
_base_ = ['./losa_vitb-shape_64px.py']
model = dict(
    backbone=dict(vit=dict(embed_dims=192, depth=4, num_heads=4), clip_batch=2),
    head=dict(in_channels=192, embed_dims=64, head_dims=64, num_classes=5,
              arch=(2, 2, 2), regress_ranges=((0, 4), (4, 8), (8, 10000))))
