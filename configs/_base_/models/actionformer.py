# ActionFormer on pre-extracted features: TALDetector without backbone, features
# [B, C, T] go straight to the head. Every value is ActionFormer's THUMOS-14 I3D setting
# (configs/thumos_i3d.yaml over libs/core/config.py of happyharrycn/actionformer_release);
# docs/actionformer.md maps each one and lists the deliberate differences.
model = dict(
    type='TALDetector',
    data_preprocessor=dict(type='TALDataPreprocessor', pad_multiple=32),
    head=dict(
        type='ActionFormerHead',
        num_classes=20,
        in_channels=2048,              # input_dim (I3D RGB + flow)
        embed_dims=512,                # embd_dim = fpn_dim
        arch=(2, 2, 5),                # backbone_arch: 2 convs, 2 stem, 5 branch blocks
        n_mha_win_size=19,             # local attention window, every level
        num_heads=4,                   # n_head
        head_dims=512,                 # head_dim
        regress_ranges=((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000)),
        center_radius=1.5,             # center_sample 'radius', center_sample_radius
        cls_prior_prob=0.01,           # train_cfg.cls_prior_prob
        proj_drop=0.0,                 # train_cfg.dropout
        drop_path=0.1,                 # train_cfg.droppath
        init_loss_norm=100,            # train_cfg.init_loss_norm (THUMOS file)
        label_smoothing=0.0,           # train_cfg.label_smoothing
        # ActionFormer's padding arithmetic (conv reads padded steps, max-pool sees 0),
        # so converted checkpoints give its outputs; 'invariant' ignores padding.
        padding='actionformer',
        max_seq_len=None,              # set per data set (2304 for THUMOS-14 features)
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      reduction='sum', loss_weight=1.0),
        # train_cfg.loss_weight = 1.0 on the regression loss
        loss_reg=dict(type='DIoULoss1D', loss_weight=1.0, reduction='sum'),
        test_cfg=dict(
            pre_nms_thresh=0.001, pre_nms_topk=2000, duration_thresh=0.05,
            multiclass_nms=True,       # per-class soft-NMS on THUMOS-14
            # the yaml's voting_thresh 0.7 is inert with multi-class NMS: no voting
            nms=dict(method='soft', iou_threshold=0.1, sigma=0.5, min_score=0.001,
                     max_num=200, voting_thresh=0.0))))
