# Table 4: without the short-range adapter.
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(use_short=False))
