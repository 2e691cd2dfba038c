# Memory mode "bf16" at the paper's setting: delta over the LoSA ViT-B THUMOS-14 config.
_base_ = ['../losa/losa_videomaev2-b_thumos14.py']
model = dict(backbone=dict(dtype='bf16'))
