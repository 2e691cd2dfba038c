# Cosine-similarity gating with one weight a layer *and token* (the project's earlier
# reading of Table 4's cosine gating; docs/method.md, "Gates").
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(gate_init='cosine_token'))
