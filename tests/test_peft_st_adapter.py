"""ST-Adapter baseline: configs, identity at init (zero depth-wise conv, as the released
code), the adapter's formula against a hand computation, per-clip scope, and training
that moves only the adapters (and head) of a frozen backbone."""
import pytest
import torch
from mmaction.registry import MODELS
from torch import nn

from losa_plugin.models.backbones.peft import STAdapter, STAdapterLayer
from tests.test_layer_tap_slowfast import randomise
from tests.test_peft_common import (SF_CLIP, VIT_CLIP, backbone_cfg, check_configs,
                                    check_training_leaves_backbone, peft_detector)

ADAPTER = dict(type='STAdapter', ratio=0.5)


def test_configs_build_and_differ_only_in_adaptation():
    check_configs('st-adapter', 'backbone.adapters.', 'STAdapter')


@pytest.mark.parametrize('kind,position', [('vit', 'attn'), ('vit', 'mlp'), ('vit', 'both'),
                                           ('slowfast', 'attn')])
def test_identity_at_init_equals_plain_backbone(kind, position):
    torch.manual_seed(0)
    plain = MODELS.build(backbone_cfg(kind))
    if kind == 'slowfast':
        randomise(plain.backbone)
    peft = MODELS.build(backbone_cfg(kind, dict(ADAPTER, position=position)))
    peft.init_weights()  # the adapters' init is re-applied after the parents' init
    peft.backbone.load_state_dict(plain.backbone.state_dict())
    peft.train()
    clip = VIT_CLIP if kind == 'vit' else SF_CLIP
    frames = torch.randn(2, 3, 3 * clip, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = plain(frames)
    out = peft(frames)  # autograd on: the adapters learn through the frozen blocks
    assert out.feats[-1].requires_grad
    for a, b in zip(out.feats, ref.feats):
        assert torch.equal(a, b)


def test_adapter_formula_by_hand():
    """Kernel (3, 1, 1) mixes each token with its temporal neighbours in the clip
    (zero padded at the clip's ends), nothing across space; with identity
    projections ``y = x + a x[t-1] + b x[t] + c x[t+1] + bias``."""
    c, t, h, w = 4, 5, 2, 3
    layer = STAdapterLayer(c, c, kernel_size=(3, 1, 1))
    a, b, cc = 0.3, -0.7, 1.1
    with torch.no_grad():
        layer.down.weight.copy_(torch.eye(c))
        layer.up.weight.copy_(torch.eye(c))
        layer.conv.weight.copy_(torch.tensor([a, b, cc]).view(1, 1, 3, 1, 1).repeat(c, 1, 1, 1, 1))
        layer.conv.bias.fill_(0.25)
    x = torch.randn(2, t, h, w, c, generator=torch.Generator().manual_seed(0))
    prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
    nxt = torch.cat([x[:, 1:], torch.zeros_like(x[:, :1])], dim=1)
    expected = x + a * prev + b * x + cc * nxt + 0.25
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6)
    # on ViT tokens (order t h w): an identity block leaves the adapter alone
    adapter = STAdapter(c, width=c)
    adapter.pre_attn.load_state_dict(layer.state_dict())
    tokens = x.reshape(2, t * h * w, c)
    out = adapter.forward_vit(nn.Identity(), tokens, (t, h, w))
    torch.testing.assert_close(out, expected.reshape(2, t * h * w, c), rtol=0, atol=1e-6)


def test_each_clip_is_adapted_alone():
    """The depth-wise conv runs within a clip: another clip's frames do not matter."""
    torch.manual_seed(0)
    peft = MODELS.build(backbone_cfg('vit', ADAPTER, tap_layers=[-1]))
    for adapter in peft.adapters.values():
        nn.init.normal_(adapter.pre_attn.conv.weight, std=0.5)
    peft.eval()
    frames = torch.randn(1, 3, 2 * VIT_CLIP, 32, 32, generator=torch.Generator().manual_seed(2))
    other = frames.clone()
    other[:, :, VIT_CLIP:] += 1.0
    with torch.no_grad():
        a, b = peft(frames).feats[-1], peft(other).feats[-1]
    assert torch.equal(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1], b[:, 1])


@pytest.mark.parametrize('kind', ['vit', 'slowfast'])
def test_training_moves_only_adapters(kind):
    model = peft_detector(kind, ADAPTER)
    check_training_leaves_backbone(model, kind, 'backbone.adapters.')
