# Table 4: cosine-similarity gating instead of learnable gates: each layer weighed by the
# similarity of its adapted features with the last layer's (one weight a layer and sample,
# 'cosine_layer'; docs/method.md, "Gates").
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(gate_init='cosine_layer'))
