# Head-only baseline: ActionFormer on ActionFormer's released THUMOS-14 I3D features
# (2048-d, stride 4, 16 frames each). Published (ActionFormer paper) avg mAP 66.8.
_base_ = [
    '../_base_/models/actionformer.py',
    '../_base_/datasets/thumos14_features.py',
    '../_base_/schedules/adamw_cosine_thumos14.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(optimizer=dict(lr=1e-4))
