# Table 4 on the synthetic benchmark: cosine-similarity gating instead of learnable gates.
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(gate_init='cosine'))
