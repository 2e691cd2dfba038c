# Measurement config: LoSA on a ViT-B-shaped backbone (768 wide, 12 blocks, 12 heads,
# 16-frame clips, tubelet 2, patch 16) at 64 x 64 pixels and random weights, so that a
# CPU can run training steps on long windows. Only the resolution and the weights differ
# from configs/losa/losa_videomaev2-b_thumos14.py (tap layout, neck and head are the
# same). tools/benchmark.py derives head-only / full-FT from it, or use the sibling
# head-only-online_ / full-ft_ files.
_base_ = ['../losa/losa_videomaev2-b_thumos14.py']
img_size = 64
model = dict(backbone=dict(vit=dict(img_size=img_size), pretrained=None))
