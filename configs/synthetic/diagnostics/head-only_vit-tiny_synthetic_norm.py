# Diagnostic: head-only with a LayerNorm on the pooled last layer (the tiny ViT's raw
# residual stream has an RMS of ~16). The baseline to compare losa_vit-tiny_synthetic_norm
# with: both heads then start from the same normalised features.
_base_ = ['../head-only_vit-tiny_synthetic.py']
model = dict(neck=dict(in_channels=96, norm=True))
