# LoSA: a frozen layer-tap backbone (inherit a configs/_base_/models/backbones/ file and
# set model.backbone={{_base_.backbone}}), the Long-Short-range adapter neck and the
# ActionFormer head of ./actionformer.py. Paper settings: n_heads 4, adapters on all
# intermediate layers, zero-initialised gates.
_base_ = ['./actionformer.py']
model = dict(
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
        adapter_width='tap',  # each layer's adapter in its own width C_i
        adapter_output='residual',  # FS_i = F'_i + CrossAttn(F'_i, F'_N) (docs/method.md)
        share_query=True,  # one query projection per layer for its two adapters
        short_range_clips=1,
        use_short=True,
        use_long=True,
        fusion='gated',
        gate_init='zero'),
    head=dict(in_channels=768))
