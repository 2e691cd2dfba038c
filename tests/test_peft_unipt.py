"""UniPT neck: configs, the neck against an independent re-implementation of the
released formula, taps on other grids pooled onto the last one, and training that
never reaches the backbone (taps without autograd history)."""
import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS

from losa_plugin.models.backbones.tap_output import TapOutput
from losa_plugin.models.necks.unipt_neck import UniPTNeck
from tests.test_peft_common import (backbone_cfg, check_configs,
                                    check_training_leaves_backbone, detector)


def test_configs_build_and_differ_only_in_adaptation():
    check_configs('unipt', 'neck.', None)


def _reference(neck: UniPTNeck, tokens):
    """The released transformer version, one clip at a time, written with loops.

    tokens: per layer ``[M, C_i]`` of one clip (on the last layer's grid)."""
    def down(k, x):
        lin, ln = neck.down[k]
        return F.layer_norm(x @ lin.weight.T + lin.bias, (lin.out_features, ), ln.weight,
                            ln.bias, ln.eps)
    anchor = down(len(tokens) - 1, tokens[-1])
    merged, conf = [], []
    for k in range(len(tokens) - 1):
        d = down(k, tokens[k])
        scores = torch.relu(anchor @ d.T)
        scores = scores / scores.sum(-1, keepdim=True).clamp(min=1e-6)
        scores = scores + torch.eye(len(d))
        merged.append(scores @ d)
        conf.append((neck.gate.weight[0] * anchor.mean(0) * d.mean(0)).sum() + neck.gate.bias[0])
    weights = torch.softmax(torch.stack(conf), 0)
    fused = sum(wk * mk for wk, mk in zip(weights, merged))
    lin, ln = neck.proj
    out = anchor + F.layer_norm(fused @ lin.weight.T + lin.bias, (lin.out_features, ),
                                ln.weight, ln.bias, ln.eps)
    return torch.relu(out) @ neck.up[1].weight.T + neck.up[1].bias


@pytest.mark.parametrize('scope', ['frame', 'clip'])
def test_neck_matches_the_released_formula(scope):
    """One sequence per temporal token (``'frame'``) or per clip, then the spatial mean;
    padded clips zero."""
    torch.manual_seed(0)
    b, t, tn, h, w, c = 2, 3, 2, 2, 2, 16
    neck = UniPTNeck(in_channels=[c, c, c], out_channels=12, downsample_factor=2,
                     token_scope=scope)
    g = torch.Generator().manual_seed(1)
    feats = tuple(torch.randn(b, t, tn, h, w, c, generator=g) for _ in range(3))
    clip_mask = torch.tensor([[True, True, True], [True, True, False]])
    out, mask = neck(TapOutput(feats, (1, 2, 3), clip_mask))
    assert out.shape == (b, 12, t * tn) and mask.shape == (b, t * tn)
    assert mask.tolist() == [[True] * 6, [True] * 4 + [False] * 2]
    with torch.no_grad():
        for bi in range(b):
            for ti in range(t):
                if scope == 'clip':
                    tokens = [f[bi, ti].reshape(-1, c) for f in feats]
                    ref = _reference(neck, tokens).reshape(tn, h * w, 12).mean(1)  # [tn, C]
                else:
                    ref = torch.stack([_reference(neck, [f[bi, ti, k].reshape(-1, c)
                                                         for f in feats]).mean(0)
                                       for k in range(tn)])
                got = out[bi, :, ti * tn:(ti + 1) * tn].T
                if clip_mask[bi, ti]:
                    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
                else:
                    assert not got.any()


def test_taps_on_other_grids_are_pooled_onto_the_last():
    """A SlowFast-like tap (twice the steps, twice the size, other width) equals the
    same tap given already average-pooled to the last layer's grid."""
    torch.manual_seed(0)
    neck = UniPTNeck(in_channels=[6, 8], out_channels=8)
    g = torch.Generator().manual_seed(2)
    big = torch.randn(1, 2, 4, 4, 4, 6, generator=g)
    last = torch.randn(1, 2, 2, 2, 2, 8, generator=g)
    pooled = big.reshape(1, 2, 2, 2, 2, 2, 2, 2, 6).mean(dim=(3, 5, 7))
    mask = torch.ones(1, 2, dtype=torch.bool)
    a, _ = neck(TapOutput((big, last), (1, 2), mask))
    b, _ = neck(TapOutput((pooled, last), (1, 2), mask))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='at least two taps'):
        UniPTNeck(in_channels=[8])


@pytest.mark.parametrize('kind', ['vit', 'slowfast'])
def test_training_never_reaches_the_backbone(kind):
    model = detector(backbone_cfg(kind), dict(type='UniPTNeck'), kind)
    # the confidences go through a softmax over layers, which ignores a shared shift:
    # the gate's bias gets no gradient (in the released code too)
    check_training_leaves_backbone(model, kind, 'neck.', no_grad_ok=('neck.gate.bias', ))
    frames = torch.randn(1, 3, 16, 32, 32)
    taps = model.backbone(frames)
    assert all(not f.requires_grad for f in taps.feats)  # no autograd history kept
