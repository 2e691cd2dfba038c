# Table 4 on the synthetic benchmark: cosine-similarity gating instead of learnable gates,
# one weight a layer and sample (the paper's reading; docs/method.md, "Gates").
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(gate_init='cosine_layer'))
