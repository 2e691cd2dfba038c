# Head-only-online baseline: the frozen backbone run on raw frames, last layer only
# (spatially mean-pooled) into the same head; same data and schedule as LoSA.
_base_ = ['../losa/losa_videomaev2-g_activitynet13.py']
# only the last layer is read, so only it is kept
# (LoSA's tap recompute, on in the ViT-g LoSA configs, needs LoSA's per-clip spatial
# blocks: off here.)
model = dict(backbone=dict(tap_layers=[-1], tap_recompute=False),
             neck=dict(_delete_=True, type='LastLayerNeck'))
