"""bf16 frozen forward of a ViT-S-shaped backbone (issue 17): taps within a stated bf16
tolerance of float32, the native path really taken, the weight copy following the
float32 weights, both kernel sets equal; the FLOP count against PyTorch's counter.

Tolerance, derived from bf16's precision (not fitted). bf16 keeps 8 significant bits:
unit roundoff ``u = 2^-8``. Rounding to nearest perturbs a tensor by a relative error of
rms ``u / sqrt(6)`` (the absolute error is uniform over half an ulp either side; the
ulp relative to the value averages ``2u / sqrt(2)`` in rms over a binade). Independent
roundings add in quadrature. Counting every rounding on the way to tap ``i`` at full
weight (a branch's share of the residual stream is at most 1):

* before the blocks, 5: the frames, the patch weights, the patch output, the position
  embedding, their sum;
* per block, at most 15: LayerNorm 1 output; qkv weights and output; the attention
  kernel's probabilities and output; proj weights and output; the residual sum;
  LayerNorm 2 output; fc1 weights and output; GELU output; fc2 weights and output; the
  residual sum (the fused CPU kernels round fewer times);

so ``R_i = 5 + 15 i`` and the normwise relative error of tap ``i`` is expected below
``tol_i = sqrt(R_i) * u / sqrt(6)`` (tap 12: 2.2 %). ``pooled_last`` (float32 LayerNorm
of the spatial mean of the last bf16 tap) is held to the last tap's bound. A wrong
weight, bias, scale, layer scale or skipped block is off by O(1).
"""
import copy
import math

import pytest
import torch
from mmaction.registry import MODELS
from torch.utils.flop_counter import FlopCounterMode

from losa_plugin.benchmark.throughput import layer_tap_vit_flops, vit_flops_per_clip
from losa_plugin.models.backbones import frozen_vit_lowp

U = 2.0**-8
CLIP = 16


def tol(i: int) -> float:
    return math.sqrt(5 + 15 * i) * U / math.sqrt(6)


def vit_s(**over):
    cfg = dict(type='VisionTransformer', img_size=32, patch_size=16, embed_dims=384,
               depth=12, num_heads=6, mlp_ratio=4, qkv_bias=True, num_frames=CLIP,
               tubelet_size=2)
    cfg.update(over)
    return cfg


def randomise(model, seed):
    """Weights whose blocks change the stream by O(1) (the default init's 0.02 would
    leave every block near the identity and hide errors in the branches)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.backbone.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / p[0].numel()**0.5)
            elif 'gamma' in name:
                p.copy_(0.5 + 0.5 * torch.rand(p.shape, generator=g))
            elif 'norm' in name and name.endswith('weight'):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def build(vit, **kw):
    torch.manual_seed(0)
    return MODELS.build(dict(type='LayerTapViT', vit=vit, clip_len=CLIP, clip_batch=2, **kw))


def rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


def frames(seed=1, clips=3):
    return torch.randn(1, 3, clips * CLIP, 32, 32, generator=torch.Generator().manual_seed(seed))


VARIANTS = [dict(qkv_bias=True), dict(qkv_bias=False, init_values=0.1)]


@pytest.mark.parametrize('over', VARIANTS)
@pytest.mark.parametrize('mode', ['native', 'autocast'])
def test_bf16_taps_within_stated_tolerance(over, mode):
    ref_model = build(vit_s(**over))
    randomise(ref_model, seed=0)
    model = build(vit_s(**over), dtype='bf16', lowp_mode=mode)
    model.load_state_dict(ref_model.state_dict())
    x = frames()
    ref, out = ref_model(x), model(x)
    assert len(out.feats) == 12
    for i, (tap, r) in enumerate(zip(out.feats, ref.feats), start=1):
        assert tap.dtype == torch.bfloat16
        assert rel(tap, r) < tol(i), (i, rel(tap, r) / U)
    assert out.pooled_last.dtype == torch.float32
    assert rel(out.pooled_last, ref.pooled_last) < tol(12)
    if mode == 'native':
        # computed in bf16 through the blocks, not float32 rounded at the end: the last
        # tap is much further from float32 than its own storage rounding
        stored = rel(ref.feats[-1].to(torch.bfloat16), ref.feats[-1])
        assert rel(out.feats[-1], ref.feats[-1]) > 2 * stored


def test_native_path_bypasses_the_float32_blocks():
    model = build(vit_s(depth=3), dtype='bf16')
    calls = []
    for blk in model.backbone.blocks:
        blk.register_forward_hook(lambda m, a, o: calls.append(1))
    model(frames(clips=1))
    assert model.lowp is not None and calls == []
    # without fused attention, and with gradients (full FT), autocast runs the blocks
    for kw in (dict(fused_attention=False), dict(frozen=False)):
        other = build(vit_s(depth=3), dtype='bf16', **kw)
        hits = []
        other.backbone.blocks[0].register_forward_hook(lambda m, a, o: hits.append(1))
        other(frames(clips=1))
        assert hits, kw
    assert build(vit_s(depth=3), dtype='bf16', lowp_mode='autocast').lowp is None
    with pytest.raises(ValueError, match='lowp_mode'):
        build(vit_s(depth=3), dtype='bf16', lowp_mode='fast')


def test_weight_copy_follows_the_float32_weights():
    vit = vit_s(depth=4)
    model = build(vit, dtype='bf16')
    ref_model = build(vit)
    x = frames(clips=1)
    model(x)  # the copy is made here
    assert not any('lowp' in k for k in model.state_dict())
    for seed in (3, 4):  # new weights after the copy: a stale copy is O(1) off
        randomise(ref_model, seed)
        model.load_state_dict(ref_model.state_dict())
        assert rel(model(x).feats[-1], ref_model(x).feats[-1]) < tol(4)
    # an in-place change of one weight is seen too
    with torch.no_grad():
        ref_model.backbone.blocks[1].mlp.layers[1].bias.add_(1.0)
        model.backbone.blocks[1].mlp.layers[1].bias.add_(1.0)
    assert rel(model(x).feats[-1], ref_model(x).feats[-1]) < tol(4)
    # model.float() converts buffers; the next forward restores the 16-bit copy
    model.float()
    assert rel(model(x).feats[-1], ref_model(x).feats[-1]) < tol(4)
    assert model.lowp.dtype == torch.bfloat16
    twin = copy.deepcopy(model)
    assert twin.lowp._vit[0] is twin.backbone
    torch.testing.assert_close(twin(x).feats[-1], model(x).feats[-1], atol=0, rtol=0)


def test_fused_cpu_kernels_equal_the_plain_ops(monkeypatch):
    if not frozen_vit_lowp._onednn_linear_works(torch.bfloat16):
        pytest.skip('no oneDNN fused linear here')
    vit = vit_s(depth=4, init_values=0.1, qkv_bias=True)
    fused = build(vit, dtype='bf16')
    randomise(fused, seed=5)
    plain = build(vit, dtype='bf16')
    plain.load_state_dict(fused.state_dict())
    x = frames(clips=2)
    a = fused(x)
    assert fused.lowp._ops[0] is frozen_vit_lowp._onednn_linear
    monkeypatch.setattr(frozen_vit_lowp, '_onednn_linear_works', lambda dtype: False)
    b = plain(x)
    assert plain.lowp._ops[0] is frozen_vit_lowp._plain_linear
    for i, (ta, tb) in enumerate(zip(a.feats, b.feats), start=1):
        # two bf16 computations of the same function: within twice one's bound
        assert rel(ta, tb) < 2 * tol(i)


def test_flop_count_equals_pytorchs_counter():
    """The architecture's count (docs formula) against torch's FlopCounterMode on the
    plain-attention float32 path (its q k^T and P v are bmm's the counter sees)."""
    vit = vit_s(depth=5)
    model = build(vit, fused_attention=False, tap_layers=[4])  # blocks after 4 not run
    x = frames(clips=2)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    counts = {str(k): v for k, v in counter.get_flop_counts()['Global'].items()}
    flops = layer_tap_vit_flops(model, 32, 32)
    assert counts['aten.convolution'] == 2 * flops['patch']
    assert counts['aten.addmm'] == 2 * flops['linear']
    assert counts['aten.bmm'] == 2 * flops['attention']
    assert counter.get_total_flops() == 2 * flops['total']
    # ViT-B at 16x224x224, by hand: patch 2*1568*1536*768, per block
    # 24*1568*768^2 + 4*1568^2*768
    b = vit_flops_per_clip(768, 12, 1568, 2 * 16 * 16)
    assert b['total'] == 2 * 1568 * 1536 * 768 + 12 * (24 * 1568 * 768**2
                                                       + 4 * 1568**2 * 768)
    assert abs(b['total'] / 1e9 - 360.69) < 0.01
