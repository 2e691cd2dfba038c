# Head-only baseline: ActionFormer on ActionFormer's released THUMOS-14 I3D features
# (2048-d, stride 4, 16 frames each). Published (ActionFormer paper) avg mAP 66.8.
# Every setting is ActionFormer's thumos_i3d.yaml (docs/actionformer.md); a released
# ActionFormer checkpoint converted by tools/convert_actionformer.py evaluates here:
#   python tools/test.py configs/head_only/actionformer_i3d_thumos14_features.py OUT.pth
_base_ = [
    '../_base_/models/actionformer.py',
    '../_base_/datasets/thumos14_features.py',
    '../_base_/schedules/adamw_cosine_thumos14.py',
    '../_base_/default_runtime.py',
]
# ActionFormer's padded array (padding='actionformer'): 2304 steps, longer test videos
# to the next multiple of 576 (= 32 x 18, its max_div_factor).
model = dict(head=dict(max_seq_len={{_base_.max_seq_len}}))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
