# Table 4: adapters on a subset of layers, f_21..f_39 only (the last block, 40, is N).
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(adapter_layers=list(range(21, 40))))
