# Head-only-online at the measurement size: frozen backbone, last layer only (the only
# tap the LastLayerNeck reads, so the backbone stores only that one).
_base_ = ['./losa_vitb-shape_64px.py']
model = dict(backbone=dict(tap_layers=[-1]), neck=dict(_delete_=True, type='LastLayerNeck'))
