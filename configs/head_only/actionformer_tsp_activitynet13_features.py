# Head-only baseline on ActivityNet-v1.3 features (TSP R(2+1)D, 512-d), each video
# resized to 192 steps: ActionFormer's anet_tsp.yaml (docs/actionformer.md).
# ActionFormer trains this head class-agnostic (num_classes 1) and labels the
# detections with an external video classifier's scores (ext_score_file below); by
# default here the 200-class head with class-agnostic NMS (as ActionFormer's
# post-processing).
_base_ = [
    '../_base_/models/actionformer.py',
    '../_base_/datasets/activitynet13_features.py',
    '../_base_/schedules/adamw_cosine_activitynet13.py',
    '../_base_/default_runtime.py',
]
# ActivityNet protocol of ActionFormer / OpenTAD (docs/evaluation.md): set ext_score_file
# to an external classifier's video-level scores (e.g. CUHK's cuhk_val_simp_7.json) to
# train a one-class detector and give its segments the top-2 video classes at test time
# (score = detection x class). None: a 200-class head.
ext_score_file = None
train_dataloader = dict(dataset=dict(class_agnostic=ext_score_file is not None))
val_evaluator = dict(ext_score_file=ext_score_file)
test_evaluator = dict(ext_score_file=ext_score_file)

model = dict(
    head=dict(
        num_classes=200 if ext_score_file is None else 1,
        in_channels=512,                              # input_dim (TSP)
        embed_dims=256,                               # embd_dim = fpn_dim
        head_dims=256,                                # head_dim
        num_heads=4,                                  # n_head
        n_mha_win_size=[7, 7, 7, 7, 7, -1],           # 192-96-48-24-12-6 steps
        use_abs_pe=True,                              # use_abs_pe
        max_seq_len={{_base_.resize_len}},            # 192
        regress_ranges=((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000)),
        drop_path=0.1,                                # train_cfg.droppath
        proj_drop=0.0,                                # train_cfg.dropout (default)
        label_smoothing=0.1,                          # train_cfg.label_smoothing
        init_loss_norm=200,                           # train_cfg.init_loss_norm
        loss_reg=dict(type='DIoULoss1D', loss_weight=2.0, reduction='sum'),  # loss_weight
        test_cfg=dict(
            pre_nms_topk=2000,
            duration_thresh=0.001,
            multiclass_nms=False,                     # class-agnostic soft-NMS ...
            nms=dict(sigma=0.75, max_num=100, min_score=0.001,
                     voting_thresh=0.9))))            # ... then score x tIoU voting
