# SlowFast R50 (8x8), frozen, all taps; clips of the paper's T' = 16 frames (slow 2 /
# fast 16 steps a clip; the Kinetics 8x8 model was trained on 32-frame clips, see
# docs/method.md, "Clip length"):
# ids 2s-1 / 2s = slow / fast stage s (s = 1..4), 9 = fused final output
# (slow stage 4 ++ time-pooled fast stage 4, 2304 channels).
backbone = dict(
    type='LayerTapSlowFast',
    slowfast=dict(
        type='ResNet3dSlowFast',
        resample_rate=8,
        speed_ratio=8,
        channel_ratio=8,
        slow_pathway=dict(
            type='resnet3d',
            depth=50,
            pretrained=None,
            lateral=True,
            conv1_kernel=(1, 7, 7),
            dilations=(1, 1, 1, 1),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1),
            norm_eval=False),
        fast_pathway=dict(
            type='resnet3d',
            depth=50,
            pretrained=None,
            lateral=False,
            base_channels=8,
            conv1_kernel=(5, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            norm_eval=False)),
    tap_layers=None,
    clip_len=16,
    clip_batch=4,
    frozen=True,
    dtype=None,
    with_cp=False,
    tap_reduce=None,
    pretrained='checkpoints/slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb.pth')
