# Head-only-online baseline: frozen pretrained tiny ViT, last layer only (the base as is).
_base_ = ['./base_tal_vit-tiny_synthetic.py']
