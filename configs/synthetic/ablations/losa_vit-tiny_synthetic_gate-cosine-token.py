# Cosine-similarity gating with one weight a layer and token (the earlier reading of the
# cosine gating, per token; docs/method.md, "Gates").
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(gate_init='cosine_token'))
