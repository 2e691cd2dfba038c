# A tiny LoSA model for tests of the benchmark tool and the memory estimate: a 4-block,
# 96-wide ViT at 32 x 32 pixels, 16-frame clips, and a narrow ActionFormer head.
_base_ = ['./losa_vitb-shape_64px.py']
img_size = 32
model = dict(
    backbone=dict(vit=dict(img_size=img_size, embed_dims=96, depth=4, num_heads=4),
                  clip_batch=2),
    head=dict(in_channels=96, embed_dims=64, head_dims=64, num_classes=5,
              arch=(2, 2, 2), regress_ranges=((0, 4), (4, 8), (8, 10000))))
