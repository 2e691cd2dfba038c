# Table 4 on the synthetic benchmark: without the short-range adapter.
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(use_short=False))
