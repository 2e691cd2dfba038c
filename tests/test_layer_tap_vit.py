"""LayerTapViT: taps equal mmaction VisionTransformer's own block outputs; frozen and
fine-tuning modes; padding, reduction, precision, checkpoint loading, size presets."""
import os

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from torch import nn

from losa_plugin.models.backbones import LayerTapViT, TapOutput
from losa_plugin.utils.meta_build import params_on_meta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = 4


def _randn(*shape, seed):
    """Seeded inputs: these tests compare at 1e-5, a tolerance an unlucky draw of an
    unseeded input can exceed (the comparison would then depend on test order)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def tiny_vit(**over):
    cfg = dict(type='VisionTransformer', img_size=32, patch_size=16, embed_dims=32,
               depth=3, num_heads=4, num_frames=CLIP, tubelet_size=2, qkv_bias=True)
    cfg.update(over)
    return cfg


def randomise(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial weights (default init leaves biases / gammas at 0 / 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def build(vit=None, **kw) -> LayerTapViT:
    torch.manual_seed(0)
    model = MODELS.build(dict(type='LayerTapViT', vit=vit or tiny_vit(), clip_len=CLIP, **kw))
    randomise(model.backbone)
    return model


def plain_block_outputs(vit_cfg, state, clip):
    """Run a separately built mmaction VisionTransformer on one clip [1, 3, L, H, W] and
    record every block's output with forward hooks."""
    plain = MODELS.build(vit_cfg)
    plain.load_state_dict(state)
    plain.eval()
    outs = []
    hooks = [b.register_forward_hook(lambda m, a, o: outs.append(o)) for b in plain.blocks]
    with torch.no_grad():
        plain(clip)
    for h in hooks:
        h.remove()
    return outs


@pytest.mark.parametrize('over', [dict(qkv_bias=True), dict(qkv_bias=False),
                                  dict(use_learnable_pos_emb=True, init_values=0.1,
                                       use_mean_pooling=False)])
@pytest.mark.parametrize('fused', [False, True])
def test_taps_equal_plain_block_outputs(over, fused):
    torch.manual_seed(0)
    cfg = tiny_vit(**over)
    model = build(cfg, fused_attention=fused, clip_batch=2)
    frames = _randn(2, 3, 3 * CLIP, 32, 32, seed=101)
    out = model(frames)
    assert isinstance(out, TapOutput) and out.layer_ids == (1, 2, 3)
    assert out.clip_mask.all() and out.clip_mask.shape == (2, 3)
    for b in range(2):
        for t in range(3):
            ref = plain_block_outputs(cfg, model.backbone.state_dict(),
                                      frames[b:b + 1, :, t * CLIP:(t + 1) * CLIP])
            for li, tap in zip(out.layer_ids, out.feats):
                assert tap.shape == (2, 3, CLIP // 2, 2, 2, 32)
                # tokens are ordered (t h w) in mmaction's patch embedding
                got = tap[b, t].reshape(1, -1, 32)
                # Micro-batches of 2 clips vs 1: matmul blocking rounds differently, by
                # up to ~2e-6 on some CPUs even on the plain path (a wrong tap is O(1) off).
                torch.testing.assert_close(got, ref[li - 1], atol=1e-5, rtol=1e-5)


def test_other_resolution_uses_mmaction_pos_interpolation():
    cfg = tiny_vit()
    model = build(cfg, fused_attention=False, tap_layers=[-1])
    frames = _randn(1, 3, CLIP, 48, 48, seed=102)  # built for 32: 2x2 grid, run at 3x3
    out = model(frames)
    ref = plain_block_outputs(cfg, model.backbone.state_dict(), frames)
    assert out.feats[0].shape == (1, 1, 2, 3, 3, 32)
    torch.testing.assert_close(out.feats[0].reshape(1, -1, 32), ref[-1], atol=0, rtol=0)


def test_tap_layer_selection_and_errors():
    model = build(tap_layers=[-1, 1])
    assert model.layer_ids == (1, 3)
    frames = _randn(1, 3, CLIP, 32, 32, seed=103)
    out, full = model(frames), build()(frames)  # same random weights
    assert len(out.feats) == 2 and full.layer_ids == (1, 2, 3)
    torch.testing.assert_close(out.feats[0], full.feats[0], atol=0, rtol=0)
    torch.testing.assert_close(out.feats[1], full.feats[2], atol=0, rtol=0)
    with pytest.raises(ValueError, match='out of range'):
        build(tap_layers=[0])
    with pytest.raises(ValueError, match='out of range'):
        build(tap_layers=[4])
    with pytest.raises(ValueError, match='num_frames'):
        MODELS.build(dict(type='LayerTapViT', vit=tiny_vit(), clip_len=8))
    with pytest.raises(ValueError, match='multiple of clip_len'):
        model(_randn(1, 3, CLIP + 1, 32, 32, seed=104))
    with pytest.raises(ValueError, match=r'frame_mask must be \[B, F\]'):
        model(_randn(1, 3, CLIP, 32, 32, seed=105), torch.ones(1, CLIP + 1, dtype=torch.bool))


def test_padded_clips_are_zero_and_valid_clips_unchanged():
    model = build(clip_batch=1)
    frames = _randn(2, 3, 3 * CLIP, 32, 32, seed=106)
    mask = torch.ones(2, 3 * CLIP, dtype=torch.bool)
    mask[1, CLIP + 1:] = False  # sample 1: clip 1 partly valid, clip 2 padding only
    out = model(frames, mask)
    ref = model(frames)
    assert out.clip_mask.tolist() == [[True, True, True], [True, True, False]]
    for tap, full in zip(out.feats, ref.feats):
        assert torch.equal(tap[1, 2], torch.zeros_like(tap[1, 2]))
        torch.testing.assert_close(tap[0], full[0])
        torch.testing.assert_close(tap[1, :2], full[1, :2])
    # all-padding batch still returns zeros of the right shape
    empty = model(frames, torch.zeros_like(mask))
    assert not empty.clip_mask.any()
    assert all(f.shape == r.shape and not f.any() for f, r in zip(empty.feats, ref.feats))


def test_clip_batch_and_spatial_mean_stream():
    frames = _randn(2, 3, 2 * CLIP, 32, 32, seed=107)
    full = build(clip_batch=4)(frames)
    small = build(clip_batch=1)(frames)
    reduced = build(clip_batch=3, tap_reduce='spatial_mean')(frames)
    for f, s, r in zip(full.feats, small.feats, reduced.feats):
        torch.testing.assert_close(f, s, atol=1e-5, rtol=1e-5)
        assert r.shape == (2, 2, CLIP // 2, 32)
        torch.testing.assert_close(r, f.mean(dim=(3, 4)), atol=1e-5, rtol=1e-5)


def test_frozen_no_grad_eval_kept():
    model = build(vit=tiny_vit(drop_path_rate=0.5, drop_rate=0.3))
    model.train()
    assert model.training and not model.backbone.training
    assert not any(m.training for m in model.backbone.modules())
    assert not any(p.requires_grad for p in model.parameters())
    model.backbone.requires_grad_(True)  # a careless caller; forward re-freezes
    frames = _randn(1, 3, 2 * CLIP, 32, 32, seed=108)
    out = model(frames)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(not f.requires_grad and f.grad_fn is None for f in out.feats)
    # deterministic although drop path / dropout are configured: eval mode is kept
    torch.testing.assert_close(out.feats[-1], model(frames).feats[-1], atol=0, rtol=0)
    head = nn.Linear(32, 1)
    loss = sum(head(f).sum() for f in out.feats)
    loss.backward()
    assert head.weight.grad is not None
    assert all(p.grad is None for p in model.parameters())


def test_full_finetune_grads_and_checkpointing():
    frames = _randn(1, 3, 2 * CLIP, 32, 32, seed=109)
    grads, feats = [], []
    for with_cp in (False, True):
        model = build(frozen=False, with_cp=with_cp)
        model.train()
        assert model.backbone.training
        out = model(frames)
        assert all(f.requires_grad for f in out.feats)
        sum((f * torch.linspace(-1, 1, f.shape[-1])).sum() for f in out.feats).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None})
        # every parameter up to the last tap gets a gradient; fc_norm is not on the path
        missing = {n for n, _ in model.named_parameters()} - grads[-1].keys()
        assert missing == {'backbone.fc_norm.weight', 'backbone.fc_norm.bias'}, missing
        feats.append(out.feats)
    assert grads[0].keys() == grads[1].keys()
    assert grads[0]['backbone.patch_embed.projection.weight'].abs().sum() > 0
    assert grads[0]['backbone.blocks.2.mlp.layers.1.weight'].abs().sum() > 0
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-5, rtol=1e-4)
    for a, b in zip(*feats):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_bf16_taps():
    frames = _randn(1, 3, CLIP, 32, 32, seed=110)
    ref = build()(frames)
    low = build(dtype='bf16')(frames)
    for r, l in zip(ref.feats, low.feats):
        assert l.dtype == torch.bfloat16
        rel = (l.float() - r).norm() / r.norm()
        assert rel < 0.05, rel


def test_pretrained_loading(tmp_path):
    src = build()
    frames = _randn(1, 3, CLIP, 32, 32, seed=111)
    ckpt = tmp_path / 'recognizer.pth'
    state = {'backbone.' + k: v for k, v in src.backbone.state_dict().items()}
    state['cls_head.fc_cls.weight'] = torch.zeros(5, 32)
    torch.save(dict(state_dict=state, meta=dict()), ckpt)
    for kw in (dict(pretrained=str(ckpt)),
               dict(init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))):
        dst = MODELS.build(dict(type='LayerTapViT', vit=tiny_vit(), clip_len=CLIP, **kw))
        dst.init_weights()
        for a, b in zip(src(frames).feats, dst(frames).feats):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    bad = tmp_path / 'partial.pth'
    torch.save({k: v for k, v in state.items() if 'blocks.2.' not in k}, bad)
    dst = MODELS.build(dict(type='LayerTapViT', vit=tiny_vit(), clip_len=CLIP,
                            pretrained=str(bad)))
    with pytest.raises(KeyError, match='blocks.2'):
        dst.init_weights()


@pytest.mark.parametrize('name,low,high', [('s', 21e6, 23e6), ('b', 85e6, 88e6),
                                           ('l', 300e6, 306e6), ('g', 1.005e9, 1.015e9)])
def test_size_presets_build_on_meta(name, low, high):
    cfg = Config.fromfile(
        os.path.join(ROOT, f'configs/_base_/models/backbones/layer_tap_vit_{name}.py'))
    with params_on_meta():
        model = MODELS.build(cfg.backbone)
    params = list(model.parameters())
    assert all(p.is_meta for p in params)
    count = sum(p.numel() for p in params)
    assert low < count < high, count
    if name == 'g':
        assert len(model.backbone.blocks) == 40 and model.layer_ids[-1] == 40
        assert model.backbone.patch_size == 14 and model.out_channels == 1408
        assert model.backbone.blocks[0].mlp.layers[0][0].out_features == 6144
