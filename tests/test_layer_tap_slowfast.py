"""LayerTapSlowFast on a tiny R50-shaped SlowFast (bottleneck blocks, laterals, small
channels / frames / resolution): taps equal the plain backbone's stage outputs."""
import pytest
import torch
from mmaction.registry import MODELS
from torch import nn

from losa_plugin.models.backbones import LayerTapSlowFast

CLIP = 16  # resample_rate 4, speed_ratio 4: slow 4 steps, fast 16 steps


def tiny_slowfast():
    return dict(
        type='ResNet3dSlowFast', resample_rate=4, speed_ratio=4, channel_ratio=4,
        slow_pathway=dict(type='resnet3d', depth=50, pretrained=None, lateral=True,
                          base_channels=8, stage_blocks=(2, 1, 1, 1), conv1_kernel=(1, 7, 7),
                          conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1)),
        fast_pathway=dict(type='resnet3d', depth=50, pretrained=None, lateral=False,
                          base_channels=2, stage_blocks=(2, 1, 1, 1), conv1_kernel=(5, 7, 7),
                          conv1_stride_t=1, pool1_stride_t=1))


def randomise(module: nn.Module, seed: int = 0) -> None:
    """Random weights and BatchNorm statistics (mmaction zero-inits the last BN of
    each block, which would hide residual branches)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def build(**kw) -> LayerTapSlowFast:
    torch.manual_seed(0)
    model = MODELS.build(dict(type='LayerTapSlowFast', slowfast=tiny_slowfast(),
                              clip_len=CLIP, **kw))
    randomise(model.backbone)
    return model


def plain_stage_outputs(state, clip):
    """A separately built ResNet3dSlowFast run directly; stage outputs via hooks plus
    its own final (slow, fast) output."""
    plain = MODELS.build(tiny_slowfast())
    plain.load_state_dict(state)
    plain.eval()
    outs = {}
    hooks = []
    for s in range(1, 5):
        for name, path in (('slow', plain.slow_path), ('fast', plain.fast_path)):
            hooks.append(getattr(path, f'layer{s}').register_forward_hook(
                lambda m, a, o, key=(name, s): outs.__setitem__(key, o)))
    with torch.no_grad():
        final = plain(clip)
    for h in hooks:
        h.remove()
    return outs, final


def centred_fast_mean(fast, slow_t):
    """Hand-written: slow step k sits on fast step k r; fast steps within r / 2 of it
    count 1, those exactly r / 2 away 1/2, renormalised inside the clip."""
    r = fast.shape[2] // slow_t
    cells = []
    for k in range(slow_t):
        acc, total = 0, 0.0
        for f in range(fast.shape[2]):
            w = 1.0 if abs(f - k * r) < r / 2 else 0.5 if abs(f - k * r) == r / 2 else 0.0
            acc = acc + w * fast[:, :, f]
            total += w
        cells.append(acc / total)
    return torch.stack(cells, dim=2)


def test_taps_equal_plain_stage_outputs():
    model = build(clip_batch=2)
    assert model.layer_ids == tuple(range(1, 10))
    frames = torch.randn(2, 3, 2 * CLIP, 32, 32, generator=torch.Generator().manual_seed(301))
    out = model(frames)
    slow_t, fast_t = CLIP // 4, CLIP
    for b in range(2):
        for t in range(2):
            outs, (final_slow, final_fast) = plain_stage_outputs(
                model.backbone.state_dict(), frames[b:b + 1, :, t * CLIP:(t + 1) * CLIP])
            for s in range(1, 5):
                for k, (name, steps) in enumerate((('slow', slow_t), ('fast', fast_t))):
                    tap = out.feats[2 * s - 2 + k][b, t]
                    ref = outs[(name, s)][0].permute(1, 2, 3, 0)  # c t h w -> t h w c
                    assert tap.shape[0] == steps
                    torch.testing.assert_close(tap, ref, atol=1e-5, rtol=1e-5)
            # the last stages are the plain backbone's own output (no lateral after them)
            torch.testing.assert_close(out.feats[6][b, t], final_slow[0].permute(1, 2, 3, 0))
            fused = torch.cat((final_slow, centred_fast_mean(final_fast, slow_t)), dim=1)
            torch.testing.assert_close(out.feats[8][b, t], fused[0].permute(1, 2, 3, 0),
                                       atol=1e-5, rtol=1e-5)
    # R50-shaped channel widths: slow 4x expansion + lateral, fast base 2
    assert [f.shape[-1] for f in out.feats] == [32, 8, 64, 16, 128, 32, 256, 64, 320]
    assert out.feats[0].shape[:3] == (2, 2, slow_t) and out.feats[1].shape[2] == fast_t


def test_subset_and_reduce_and_errors():
    frames = torch.randn(1, 3, CLIP, 32, 32, generator=torch.Generator().manual_seed(302))
    full = build()(frames)
    sub = build(tap_layers=[2, -1], tap_reduce='spatial_mean')(frames)
    assert sub.layer_ids == (2, 9)
    torch.testing.assert_close(sub.feats[0], full.feats[1].mean(dim=(3, 4)))
    torch.testing.assert_close(sub.feats[1], full.feats[8].mean(dim=(3, 4)))
    with pytest.raises(ValueError, match='resample_rate'):
        MODELS.build(dict(type='LayerTapSlowFast', slowfast=tiny_slowfast(), clip_len=6))
    with pytest.raises(ValueError, match='out of range'):
        build(tap_layers=[10])


def test_frozen_keeps_bn_statistics_and_records_no_graph():
    model = build()
    stats = {n: b.clone() for n, b in model.named_buffers()}
    model.train()
    assert not any(m.training for m in model.backbone.modules())
    frames = torch.randn(1, 3, 2 * CLIP, 32, 32, generator=torch.Generator().manual_seed(303))
    mask = torch.ones(1, 2 * CLIP, dtype=torch.bool)
    mask[0, CLIP:] = False
    out = model(frames, mask)
    assert out.clip_mask.tolist() == [[True, False]]
    assert all(not f.requires_grad for f in out.feats)
    assert all(not f[0, 1].any() for f in out.feats)
    for n, b in model.named_buffers():
        assert torch.equal(b, stats[n]), n
    head = nn.Linear(320, 1)
    head(out.feats[-1]).sum().backward()
    assert all(p.grad is None for p in model.parameters())


def test_full_finetune_grads_and_checkpointing():
    frames = torch.randn(1, 3, CLIP, 32, 32, generator=torch.Generator().manual_seed(304))
    runs = []
    for with_cp in (False, True):
        model = build(frozen=False, with_cp=with_cp)
        model.train()
        if with_cp:
            assert model.backbone.slow_path.layer1[0].with_cp
        out = model(frames)
        sum(f.square().mean() for f in out.feats).backward()
        runs.append((out.feats, {n: p.grad for n, p in model.named_parameters()}))
    (feats0, grads0), (feats1, grads1) = runs
    assert grads0['backbone.fast_path.conv1.conv.weight'].abs().sum() > 0
    assert grads0['backbone.slow_path.layer1_lateral.conv.weight'].abs().sum() > 0
    for a, b in zip(feats0, feats1):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    for n in grads0:
        torch.testing.assert_close(grads0[n], grads1[n], atol=1e-5, rtol=1e-4)


def test_slow_cell_times_equal_the_sampled_frames_times(tmp_path):
    """Grid cell k of a SlowFast window is where the slow pathway samples: feed frames
    whose pixels hold their own index, read which frames mmaction's slow pathway gets,
    and compare their times with the window sampler's grid (cell_centre=0.5: the centre
    of the sampled frame's span, as a ViT cell sits at the centre of its frames)."""
    from losa_plugin.datasets.transforms.sample_video_window import SampleVideoWindow
    from losa_plugin.utils.time_grid import grid_to_seconds
    model = build()
    seen = []
    hook = model.backbone.slow_path.conv1.register_forward_pre_hook(
        lambda m, a: seen.append(a[0][:, 0, :, 0, 0].flatten().clone()))
    frames = torch.arange(2 * CLIP, dtype=torch.float32).view(1, 1, -1, 1, 1)
    model(frames.expand(1, 3, 2 * CLIP, 32, 32).contiguous())
    hook.remove()
    sampled = torch.cat(seen).long()  # clip-by-clip, window frame indices
    assert sampled.tolist() == [0, 4, 8, 12, 16, 20, 24, 28]  # frames 0, r, 2r, .. a clip
    fps, interval = 25.0, 3
    window = SampleVideoWindow(clip_len=CLIP, frame_interval=interval, num_clips=2,
                               frames_per_cell=4, cell_centre=0.5, test_mode=True)
    window.probe = lambda results: (1000, fps, None)  # a 1000-frame video, not read
    res = window.transform(dict(video_path=str(tmp_path / 'v.mp4'), window_start=30,
                                window_len=2 * CLIP * interval))
    cells = torch.arange(len(sampled), dtype=torch.float64)
    grid = grid_to_seconds(cells, res['feature_stride'], res['window_offset'], fps)
    # sampled frame j of the window is video frame frame_inds[j], shown during
    # [frame_inds[j], frame_inds[j] + interval) original frames: its centre
    frame_times = (torch.as_tensor(res['frame_inds'])[sampled].double() + 0.5 * interval) / fps
    torch.testing.assert_close(grid, frame_times, rtol=0, atol=1e-9)
    # the former convention (cell centre at 2 of 4 sampled frames) was 1.5 frames late
    default = SampleVideoWindow(clip_len=CLIP, frame_interval=interval, num_clips=2,
                                frames_per_cell=4, test_mode=True)
    default.probe = window.probe
    late = default.transform(dict(video_path='v.mp4', window_start=30,
                                  window_len=2 * CLIP * interval))['window_offset']
    assert late - res['window_offset'] == pytest.approx(1.5 * interval)


def test_fast_step_times_equal_the_sampled_frames_times():
    """The adapters' positions of a fast-pathway tap are the times of the frames the fast
    pathway samples, in the same units as the slow steps (and so ``F_N``): feed frames
    whose pixels hold their own index and read what each pathway gets. The temporal
    align of a fast tap starts as the pooling of ``F_N``'s fast half, centred on the slow
    steps' frames (not between them)."""
    from losa_plugin.models.backbones.layer_tap_slowfast import pool_fast_to_slow
    from losa_plugin.models.necks import TemporalAlign
    from losa_plugin.models.necks.token_positions import clip_token_positions
    model = build()
    seen = {'slow': [], 'fast': []}
    hooks = [getattr(model.backbone, f'{name}_path').conv1.register_forward_pre_hook(
        lambda m, a, name=name: seen[name].append(a[0][:, 0, :, 0, 0].flatten().clone()))
        for name in seen]
    frames = torch.arange(2 * CLIP, dtype=torch.float32).view(1, 1, -1, 1, 1)
    model(frames.expand(1, 3, 2 * CLIP, 32, 32).contiguous())
    for h in hooks:
        h.remove()
    specs = model.tap_specs()
    t_slow, t_fast = specs['temporal_sizes'][0], specs['temporal_sizes'][1]
    assert (t_slow, t_fast) == (4, 16)
    frames_per_slow_step = CLIP / t_slow
    for name, steps in (('slow', t_slow), ('fast', t_fast)):
        sampled = torch.cat(seen[name]).view(2, steps)  # per clip, window frame indices
        clip_frames = sampled - torch.tensor([[0.0], [CLIP]])
        expected = clip_token_positions(steps, t_slow) * frames_per_slow_step
        torch.testing.assert_close(clip_frames, expected.expand(2, -1), rtol=0, atol=0)
    # the align's initial map of a fast tap onto the slow grid is F_N's fast pooling
    fast = torch.randn(3, 5, t_fast, 7)  # [B, T, T_i, C]
    aligned = TemporalAlign(t_fast, t_slow)(fast)
    pooled = pool_fast_to_slow(fast.permute(0, 3, 2, 1)[..., None], t_slow)  # [B, C, Ts, T, 1]
    torch.testing.assert_close(aligned, pooled[..., 0].permute(0, 3, 2, 1), rtol=1e-6,
                               atol=1e-6)
    # away from the clip's edges the initial weights are centred on the slow step's frame
    w = TemporalAlign(t_fast, t_slow).weight.detach()
    centres = (w * torch.arange(t_fast)).sum(1) / w.sum(1)
    torch.testing.assert_close(centres[1:], clip_token_positions(t_slow, t_slow)[1:] * 4)
