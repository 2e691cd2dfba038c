# LoSA: a frozen layer-tap backbone (inherit a configs/_base_/models/backbones/ file for
# model.backbone), the Long-Short-range adapter neck and the ActionFormer head.
# Paper settings: n_heads 4, adapters on all intermediate layers, zero-initialised gates.
model = dict(
    type='TALDetector',
    data_preprocessor=dict(
        type='TALDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        pad_multiple=16),  # whole clips; the detector pads L for the head's pyramid
    neck=dict(
        type='LoSANeck',
        # layer_ids / in_channels / temporal_sizes come from the backbone's taps
        adapter_layers='all',
        n_heads=4,
        adapter_ratio=0.25,
        short_range_clips=1,
        use_short=True,
        use_long=True,
        fusion='gated',
        gate_init='zero'),
    head=dict(
        type='ActionFormerHead',
        num_classes=20,
        in_channels=768,
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
