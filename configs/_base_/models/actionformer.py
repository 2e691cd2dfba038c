# ActionFormer on pre-extracted features: TALDetector without backbone, features
# [B, C, T] go straight to the head. Defaults follow ActionFormer's THUMOS-14 I3D setting.
model = dict(
    type='TALDetector',
    data_preprocessor=dict(type='TALDataPreprocessor', pad_multiple=32),
    head=dict(
        type='ActionFormerHead',
        num_classes=20,
        in_channels=2048,
        embed_dims=512,
        arch=(2, 2, 5),
        n_mha_win_size=19,
        num_heads=4,
        head_dims=512,
        regress_ranges=((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000)),
        center_radius=1.5,
        proj_drop=0.1,
        drop_path=0.1,
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      reduction='sum', loss_weight=1.0),
        loss_reg=dict(type='DIoULoss1D', loss_weight=1.0, reduction='sum'),
        test_cfg=dict(
            pre_nms_thresh=0.001, pre_nms_topk=2000, duration_thresh=0.05,
            nms=dict(method='soft', iou_threshold=0.1, sigma=0.5, min_score=0.001,
                     max_num=200, voting_thresh=0.7))))
