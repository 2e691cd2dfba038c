# Head-only-online baseline: the frozen backbone run on raw frames, last layer only
# (spatially mean-pooled) into the same head; same data and schedule as LoSA.
_base_ = ['../losa/losa_slowfast101_thumos14.py']
# only the last layer is read, so only it is kept
model = dict(backbone=dict(tap_layers=[-1]), neck=dict(_delete_=True, **_base_.last_layer_neck))
