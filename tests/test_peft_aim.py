"""AIM baseline: configs, identity at init (zero fc2, as the released code), the
adapted block against an independent re-implementation of the paper's three
adaptations, and training that moves only the adapters (and head)."""
import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from torch import nn

from losa_plugin.models.backbones.peft import AIMAdapter
from tests.test_layer_tap_slowfast import randomise
from tests.test_peft_common import (SF_CLIP, VIT_CLIP, backbone_cfg, check_configs,
                                    check_training_leaves_backbone, peft_detector)

ADAPTER = dict(type='AIMAdapter', ratio=0.25, scale=0.5)


def test_configs_build_and_differ_only_in_adaptation():
    check_configs('aim', 'backbone.adapters.', 'AIMAdapter')


@pytest.mark.parametrize('kind,num_tadapter', [('vit', 1), ('vit', 2), ('slowfast', 1)])
def test_identity_at_init_equals_plain_backbone(kind, num_tadapter):
    torch.manual_seed(0)
    plain = MODELS.build(backbone_cfg(kind))
    if kind == 'slowfast':
        randomise(plain.backbone)
    peft = MODELS.build(backbone_cfg(kind, dict(ADAPTER, num_tadapter=num_tadapter)))
    peft.init_weights()
    peft.backbone.load_state_dict(plain.backbone.state_dict())
    peft.train()
    clip = VIT_CLIP if kind == 'vit' else SF_CLIP
    frames = torch.randn(2, 3, 2 * clip, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = plain(frames)
    out = peft(frames)
    assert out.feats[-1].requires_grad
    for a, b in zip(out.feats, ref.feats):
        assert torch.equal(a, b)


def _attention(block, x):
    """The block's multi-head attention written out (no fused kernel)."""
    attn = block.attn
    bias = torch.cat((attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias))
    qkv = F.linear(x, attn.qkv.weight, bias)
    n, m, _ = x.shape
    q, k, v = qkv.reshape(n, m, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    weights = (q @ k.transpose(-2, -1) * attn.scale).softmax(-1)
    return attn.proj((weights @ v).transpose(1, 2).reshape(n, m, -1))


def _adapter(layer, x):
    return layer.fc2(F.gelu(layer.fc1(x)))


def test_vit_block_matches_independent_implementation():
    """x += T(attn(norm1(x)) along time at each position); x += S(attn(norm1(x)));
    x += mlp(norm2(x)) + s * MLP(norm2(x)), with every adapter made non-zero."""
    torch.manual_seed(0)
    peft = MODELS.build(backbone_cfg('vit', ADAPTER))
    block, adapter = peft.backbone.blocks[0], peft.adapters['1']
    with torch.no_grad():
        for p in adapter.parameters():
            p.normal_(std=0.3)
    t, h, w, c = 4, 2, 3, 32
    x = torch.randn(2, t * h * w, c, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = adapter.forward_vit(block, x, (t, h, w))
        grid = x.reshape(2, t, h * w, c)
        per_pos = grid.permute(0, 2, 1, 3).reshape(2 * h * w, t, c)
        yt = _adapter(adapter.t_adapter, _attention(block, block.norm1(per_pos)))
        ref = x + yt.reshape(2, h * w, t, c).permute(0, 2, 1, 3).reshape(2, t * h * w, c)
        ys = _attention(block, block.norm1(ref))
        ref = ref + ys + _adapter(adapter.s_adapter, ys)
        xn = block.norm2(ref)
        ref = ref + block.mlp(xn) + 0.5 * _adapter(adapter.mlp_adapter, xn)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_cnn_temporal_branch_reuses_conv2_along_time():
    """SlowFast reading: the temporal branch is conv2's kernel centre column applied
    along time at every position (then BN and ReLU as conv2 does)."""
    torch.manual_seed(0)
    peft = MODELS.build(backbone_cfg('slowfast', ADAPTER, tap_layers=[-1]))
    randomise(peft.backbone)
    name = 'slow_path.layer1.0'
    block = dict(peft.backbone.named_modules())[name]
    adapter = peft.adapters[name.replace('.', '__')]
    conv = block.conv2
    h1 = torch.randn(2, conv.conv.in_channels, 5, 3, 4, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        w = conv.conv.weight[:, :, 0, :, 1]                       # [out, in, 3] along time
        y = F.conv1d(h1.permute(0, 3, 4, 1, 2).reshape(-1, h1.shape[1], 5), w, padding=1)
        y = y.reshape(2, 3, 4, -1, 5).permute(0, 3, 4, 1, 2)      # [n, out, t, h, w]
        bn = conv.bn
        y = (y - bn.running_mean[:, None, None, None]) / torch.sqrt(
            bn.running_var[:, None, None, None] + bn.eps)
        y = F.relu(y * bn.weight[:, None, None, None] + bn.bias[:, None, None, None])
        nn.init.normal_(adapter.t_adapter.fc2.weight, std=0.3)
        expected = _adapter(adapter.t_adapter, y.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        torch.testing.assert_close(adapter._temporal_cnn(conv, h1), expected,
                                   rtol=1e-4, atol=1e-5)
    # strided blocks have no temporal branch (it would subsample time)
    strided = peft.adapters['slow_path__layer2__0']
    assert strided.t_adapter is None and adapter.t_adapter is not None


@pytest.mark.parametrize('kind', ['vit', 'slowfast'])
def test_training_moves_only_adapters(kind):
    model = peft_detector(kind, ADAPTER)
    check_training_leaves_backbone(model, kind, 'backbone.adapters.')


def test_adapter_counts_follow_the_widths():
    """Per ViT block: 3 adapters of 2*C*C/4 weights + biases (the released code)."""
    adapter = AIMAdapter(64, ratio=0.25)
    per_layer = 64 * 16 + 16 + 16 * 64 + 64
    assert sum(p.numel() for p in adapter.parameters()) == 3 * per_layer
