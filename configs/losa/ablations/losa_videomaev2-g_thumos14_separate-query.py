# A query projection per adapter instead of one per layer shared by its short- and
# long-range adapter (8 instead of 7 C x C/4 matrices a layer: 159.5 M instead of 140.1 M
# backbone-side parameters; the paper reports 143 M; docs/method.md, "Parameter budget").
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(share_query=False))
