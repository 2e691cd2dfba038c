"""``tap_reduce='spatial_pool'``: pooled taps, LoSA's identity at init on them, a
training step, and the preallocated clip-loop store (no double copy)."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from mmaction.registry import MODELS
from mmengine.config import Config

import losa_plugin  # noqa: F401
from losa_plugin.benchmark.train_step import measure_train_step

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'configs/efficiency/losa_tiny.py')
CLIP = 4


def build_vit(img: int = 64, **kw):
    torch.manual_seed(0)
    vit = dict(type='VisionTransformer', img_size=img, patch_size=16, embed_dims=32, depth=3,
               num_heads=4, num_frames=CLIP, tubelet_size=2, qkv_bias=True)
    model = MODELS.build(dict(type='LayerTapViT', vit=vit, clip_len=CLIP, clip_batch=2, **kw))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial weights: default init leaves biases at 0
        for p in model.backbone.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model


def window(img: int, clips: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, clips * CLIP, img, img, generator=g)


def full_and_pooled(img: int, pool: int, **kw):
    frames = window(img)
    mask = torch.ones(2, frames.shape[2], dtype=torch.bool)
    mask[1, -2 * CLIP + 1:] = False  # sample 1: last clip padded, one clip half valid
    full = build_vit(img, **kw)(frames, mask)
    pooled = build_vit(img, tap_reduce='spatial_pool', tap_pool_size=pool, **kw)(frames, mask)
    return full, pooled


def adaptive_pool(tap: torch.Tensor, size) -> torch.Tensor:
    b, t = tap.shape[:2]
    x = rearrange(tap, 'b t ti h w c -> (b t ti) c h w')
    return rearrange(F.adaptive_avg_pool2d(x, size), '(b t ti) c h w -> b t ti h w c',
                     b=b, t=t)


def test_pooled_taps_are_the_adaptive_pool_of_the_full_taps():
    # 64 px, patch 16: a 4x4 grid, pool 2 tiles it exactly
    full, pooled = full_and_pooled(64, 2)
    assert torch.equal(full.clip_mask, pooled.clip_mask)
    for f, p in zip(full.feats, pooled.feats):
        assert p.shape == f.shape[:3] + (2, 2) + f.shape[-1:]
        torch.testing.assert_close(p, adaptive_pool(f, (2, 2)), rtol=0, atol=1e-5)
        # the spatial mean survives the pool
        torch.testing.assert_close(p.mean((3, 4)), f.mean((3, 4)), rtol=0, atol=1e-5)
    # the padded clip is zero in both
    assert not pooled.feats[0][1, -1].any()
    # pool larger than the grid: clamped, i.e. the full tap
    _, same = full_and_pooled(64, 8)
    for f, p in zip(full.feats, same.feats):
        torch.testing.assert_close(p, f, rtol=0, atol=1e-5)


def test_non_dividing_pool_keeps_the_exact_mean():
    # 112 px: a 7x7 grid; adaptive pooling to 4x4 has overlapping bins
    full, pooled = full_and_pooled(112, 4)
    for f, p in zip(full.feats, pooled.feats):
        ref = adaptive_pool(f, (4, 4))
        assert abs(float(ref.mean((3, 4)).sub(f.mean((3, 4))).abs().max())) > 1e-4
        torch.testing.assert_close(p.mean((3, 4)), f.mean((3, 4)), rtol=0, atol=1e-5)
        # what differs from adaptive pooling is one constant per channel
        diff = p - ref
        torch.testing.assert_close(diff, diff[:, :, :, :1, :1].expand_as(diff),
                                   rtol=0, atol=1e-5)


@pytest.mark.parametrize('img,pool', [(64, 2), (112, 4)])
def test_losa_neck_on_pooled_taps_starts_from_the_head_only_features(img, pool):
    full, pooled = full_and_pooled(img, pool)
    ids = list(range(1, 4))
    neck = MODELS.build(dict(type='LoSANeck', in_channels=32, layer_ids=ids, n_heads=2))
    neck.init_weights()
    head_only = MODELS.build(dict(type='LastLayerNeck', in_channels=32))
    feats, mask = neck(pooled)
    ref, ref_mask = head_only(full)  # head-only sees the full, un-pooled last tap
    torch.testing.assert_close(feats, ref, rtol=0, atol=1e-5)
    assert torch.equal(mask, ref_mask)
    # the learnable spatial conv runs on the pooled grid: it gets gradient and, with
    # open gates, changes the output
    with torch.no_grad():
        neck.fusion.gates_short.fill_(1.0)
        neck.fusion.gates_long.fill_(1.0)
    out = neck(pooled)[0]
    assert (out - ref).abs().max() > 1e-3
    out.square().sum().backward()
    assert neck.spatial[0].conv.weight.grad.abs().sum() > 0


def test_store_is_one_tensor_per_layer_and_matches_without_skipping():
    frames = window(64)
    mask = torch.ones(2, frames.shape[2], dtype=torch.bool)
    mask[0, -CLIP:] = False
    skip = build_vit(64)(frames, mask)
    ran = build_vit(64, skip_padded_clips=False)(frames, mask)
    for a, b in zip(skip.feats, ran.feats):
        assert a.is_contiguous()
        torch.testing.assert_close(a[1], b[1], rtol=0, atol=1e-6)  # all valid: same
        torch.testing.assert_close(a[0, :-1], b[0, :-1], rtol=0, atol=1e-6)
        assert not a[0, -1].any() and b[0, -1].any()  # skipped clip is zeros
    # fine-tuning: gradients flow through the preallocated store into the backbone
    ft = build_vit(64, frozen=False, tap_reduce='spatial_pool', tap_pool_size=2)
    out = ft(frames, mask)
    out.feats[-1].sum().backward()
    assert ft.backbone.patch_embed.projection.weight.grad.abs().sum() > 0


def test_bad_pool_size_is_reported():
    with pytest.raises(ValueError, match='tap_pool_size'):
        build_vit(64, tap_reduce='spatial_pool', tap_pool_size=0)


def test_training_step_runs_with_pooled_taps():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/efficiency/losa_vitb-shape_64px_pool.py'))
    tiny = Config.fromfile(TINY)
    model_cfg = tiny.model
    model_cfg.backbone.update(tap_reduce=cfg.model.backbone.tap_reduce,
                              tap_pool_size=cfg.model.backbone.tap_pool_size)
    model_cfg.backbone.vit.depth = 2
    model = MODELS.build(model_cfg)
    model.init_weights()
    out = measure_train_step(model, 32, 64, 64, num_classes=5, warmup=False)
    assert torch.isfinite(torch.tensor(out['loss']))
    assert model.neck.spatial[0].conv.weight.grad is not None
