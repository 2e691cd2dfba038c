# Head-only baseline on ActivityNet-v1.3 features (e.g. TSP R(2+1)D, 512-d), each video
# resized to 128 steps; ActionFormer regresses at one level range per octave.
_base_ = [
    '../_base_/models/actionformer.py',
    '../_base_/datasets/activitynet13_features.py',
    '../_base_/schedules/adamw_cosine_activitynet13.py',
    '../_base_/default_runtime.py',
]
model = dict(
    head=dict(
        num_classes=200,
        in_channels=512,
        embed_dims=256,
        head_dims=256,
        n_mha_win_size=-1,
        regress_ranges=((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000)),
        test_cfg=dict(nms=dict(sigma=0.75, max_num=100, voting_thresh=0.9))))
