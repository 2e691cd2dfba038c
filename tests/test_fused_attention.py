"""Fused (SDPA) attention equals mmaction's own Attention forward on ViT-S/B-shaped
random models (fewer blocks, smaller resolution), with and without q/v bias."""
import copy

import pytest
import torch
from mmaction.models.backbones.vit_mae import Attention
from mmaction.registry import MODELS

from losa_plugin.models.backbones import (disable_fused_attention, enable_fused_attention,
                                          fused_attention_forward)
from losa_plugin.models.backbones.fused_attention import is_fused

SHAPES = {'vit-s': dict(embed_dims=384, num_heads=6), 'vit-b': dict(embed_dims=768, num_heads=12)}
CLIP = 4


def _randn(*shape, seed):
    """Seeded inputs: compared at 1e-5, which an unlucky unseeded draw can exceed."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def vit_cfg(shape, qkv_bias, **over):
    cfg = dict(type='VisionTransformer', img_size=64, patch_size=16, depth=2, num_frames=CLIP,
               tubelet_size=2, qkv_bias=qkv_bias, **SHAPES[shape])
    cfg.update(over)
    return cfg


def sharpen(model, seed=0):
    """Larger q/k weights and non-zero biases, so attention is far from uniform."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, Attention):
                m.qkv.weight.copy_(torch.randn(m.qkv.weight.shape, generator=g) * 0.08)
                if hasattr(m, 'q_bias'):
                    m.q_bias.copy_(torch.randn(m.q_bias.shape, generator=g))
                    m.v_bias.copy_(torch.randn(m.v_bias.shape, generator=g))


@pytest.mark.parametrize('shape', list(SHAPES))
@pytest.mark.parametrize('qkv_bias', [True, False])
def test_module_forward_matches(shape, qkv_bias):
    torch.manual_seed(0)
    vit = MODELS.build(vit_cfg(shape, qkv_bias))
    sharpen(vit)
    attn = vit.blocks[0].attn
    x = _randn(2, 2 * 16, SHAPES[shape]['embed_dims'], seed=201)
    plain = attn(x)
    fused = fused_attention_forward(attn, x)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    # the bias really matters here (guards against a forward that ignores it)
    if qkv_bias:
        with torch.no_grad():
            attn.v_bias.zero_()
        assert not torch.allclose(fused_attention_forward(attn, x), plain, atol=1e-3)


def test_custom_qk_scale_is_used():
    torch.manual_seed(0)
    vit = MODELS.build(vit_cfg('vit-s', True, qk_scale=0.5))
    sharpen(vit)
    attn = vit.blocks[1].attn
    x = _randn(1, 32, 384, seed=202)
    torch.testing.assert_close(fused_attention_forward(attn, x), attn(x), atol=1e-5, rtol=1e-5)


def wrapper(shape, qkv_bias, fused, **kw):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='LayerTapViT', vit=vit_cfg(shape, qkv_bias), clip_len=CLIP,
                              fused_attention=fused, clip_batch=2, **kw))
    sharpen(model.backbone)
    return model


@pytest.mark.parametrize('shape', list(SHAPES))
@pytest.mark.parametrize('qkv_bias', [True, False])
def test_wrapper_padded_short_window_matches(shape, qkv_bias):
    frames = _randn(2, 3, 3 * CLIP, 64, 64, seed=203)
    mask = torch.ones(2, 3 * CLIP, dtype=torch.bool)
    mask[1, 5:] = False  # a short window padded to the batch length
    plain = wrapper(shape, qkv_bias, False)(frames, mask)
    model = wrapper(shape, qkv_bias, True)
    assert all(is_fused(m) for m in model.modules() if isinstance(m, Attention))
    fused = model(frames, mask)
    assert torch.equal(plain.clip_mask, fused.clip_mask)
    for p, f in zip(plain.feats, fused.feats):
        torch.testing.assert_close(f, p, atol=1e-5, rtol=1e-5)


def test_full_finetune_uses_fused_path_with_same_grads():
    frames = _randn(1, 3, CLIP, 64, 64, seed=204)
    grads = []
    for fused in (False, True):
        model = wrapper('vit-s', True, fused, frozen=False)
        model.train()
        calls = []
        hook = model.backbone.blocks[0].attn.register_forward_hook(
            lambda m, a, o: calls.append(is_fused(m)))
        out = model(frames)
        hook.remove()
        assert calls == [fused]
        out.feats[-1].square().mean().backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert 'backbone.blocks.0.attn.q_bias' in grads[1]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-5, rtol=1e-4)


def test_toggle_keeps_parameters_and_survives_deepcopy():
    model = wrapper('vit-s', True, True)
    keys = list(model.state_dict())
    frames = _randn(1, 3, CLIP, 64, 64, seed=205)
    fused = model(frames).feats[-1]
    # deepcopy (e.g. mmengine's EMA) binds the copy's forward to the copied module
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, Attention):
            assert is_fused(m) and m.forward.__self__ is m
    model.set_fused_attention(False)
    assert not any(is_fused(m) for m in model.modules() if isinstance(m, Attention))
    assert list(model.state_dict()) == keys
    plain = model(frames).feats[-1]
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(twin(frames).feats[-1], fused, atol=0, rtol=0)
    assert enable_fused_attention(model.backbone) == 2
    assert disable_fused_attention(model.backbone) == 2
    with pytest.raises(TypeError, match='no mmaction vit_mae.Attention'):
        enable_fused_attention(torch.nn.Linear(2, 2))
