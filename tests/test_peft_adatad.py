"""AdaTAD's temporal-informative adapter: configs (checkpointing on), identity at init
(zero up-projection, as OpenTAD), the adapter against a hand computation across clip
boundaries, padding that does not leak, windows that stay apart, checkpointing that
changes nothing, and training that moves only the adapters (and head)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS

from losa_plugin.models.backbones.peft import TIAdapter, WindowInfo
from tests.test_layer_tap_slowfast import randomise
from tests.test_peft_common import (SF_CLIP, VIT_CLIP, backbone_cfg, batch, build_config,
                                    check_configs, check_training_leaves_backbone,
                                    peft_detector)

ADAPTER = dict(type='TIAdapter', ratio=0.25, kernel_size=3)


def test_configs_build_with_checkpointing():
    check_configs('adatad', 'backbone.adapters.', 'TIAdapter')
    for backbone in ('videomaev2-b', 'slowfast101'):
        cfg, model = build_config('adatad', backbone)
        assert cfg.model.backbone.with_cp and model.backbone.with_cp
        assert model.backbone.window_coupled and not model.backbone.skip_padded_clips


@pytest.mark.parametrize('kind', ['vit', 'slowfast'])
def test_identity_at_init_equals_plain_backbone(kind):
    torch.manual_seed(0)
    plain = MODELS.build(backbone_cfg(kind))
    if kind == 'slowfast':
        randomise(plain.backbone)
    peft = MODELS.build(backbone_cfg(kind, ADAPTER, with_cp=True))
    peft.init_weights()
    peft.backbone.load_state_dict(plain.backbone.state_dict())
    peft.train()
    clip = VIT_CLIP if kind == 'vit' else SF_CLIP
    frames = torch.randn(2, 3, 3 * clip, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = plain(frames)
    out = peft(frames)
    assert out.feats[-1].requires_grad
    for a, b in zip(out.feats, ref.feats):
        assert torch.equal(a, b)


def test_adapter_by_hand_across_clips_and_padding():
    """``x + gamma * up(z + pw(dw(z)))``, ``z = GELU(down x)``; the depth-wise conv runs
    along the window's time, clips concatenated, with zeros at padded clips."""
    torch.manual_seed(0)
    c, t, h, w, clips = 8, 2, 1, 2, 3
    tia = TIAdapter(c, ratio=0.25)                     # r = 2
    with torch.no_grad():
        torch.nn.init.normal_(tia.up.weight, std=0.5)
        tia.gamma.fill_(0.7)
    x = torch.randn(2 * clips, t, h, w, c, generator=torch.Generator().manual_seed(5))
    clip_mask = torch.tensor([[True, True, True], [True, True, False]])
    with torch.no_grad():
        out = tia.adapt(x, WindowInfo(clips, clip_mask))
        z = F.gelu(x @ tia.down.weight.T + tia.down.bias)            # [B*T, t, h, w, r]
        z = z * clip_mask.reshape(-1, 1, 1, 1, 1)
        seq = z.reshape(2, clips * t, h, w, -1)                         # window time
        k = tia.dwconv.weight[:, 0]                                     # [r, 3]
        pad = F.pad(seq, (0, 0, 0, 0, 0, 0, 1, 1))
        dw = (k[:, 0] * pad[:, :-2] + k[:, 1] * pad[:, 1:-1] + k[:, 2] * pad[:, 2:]
              + tia.dwconv.bias)
        pw = dw @ tia.pwconv.weight[:, :, 0].T + tia.pwconv.bias
        z = z + pw.reshape(2 * clips, t, h, w, -1)
        expected = x + 0.7 * (z @ tia.up.weight.T + tia.up.bias)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def _adapted(kind: str):
    torch.manual_seed(0)
    peft = MODELS.build(backbone_cfg(kind, ADAPTER, tap_layers=[-1]))
    if kind == 'slowfast':
        randomise(peft.backbone)
    for tia in peft.adapters.values():
        torch.nn.init.normal_(tia.up.weight, std=0.3)
    return peft.eval()


@pytest.mark.parametrize('kind', ['vit', 'slowfast'])
def test_clips_of_a_window_interact_but_windows_and_padding_do_not(kind):
    peft = _adapted(kind)
    clip = VIT_CLIP if kind == 'vit' else SF_CLIP
    g = torch.Generator().manual_seed(2)
    frames = torch.randn(2, 3, 3 * clip, 32, 32, generator=g)
    changed = frames.clone()
    changed[:, :, clip:2 * clip] += 1.0                 # the middle clip of each window
    mask = torch.ones(2, 3 * clip, dtype=torch.bool)
    mask[1, 2 * clip:] = False                          # window 1: its last clip is padding
    with torch.no_grad():
        out = peft(frames, mask).feats[-1]
        assert not torch.allclose(peft(changed, mask).feats[-1][0, 0], out[0, 0])
        # windows run together equal windows run alone
        alone = peft(frames[:1], mask[:1]).feats[-1]
        torch.testing.assert_close(out[:1], alone, rtol=1e-5, atol=1e-6)
        # what a padded clip holds never reaches the valid clips
        noisy = frames.clone()
        noisy[1, :, 2 * clip:] = 50.0
        torch.testing.assert_close(peft(noisy, mask).feats[-1][1, :2], out[1, :2],
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kind', ['vit', 'slowfast'])
def test_checkpointing_gives_the_same_loss_and_gradients(kind):
    grads = []
    for with_cp in (False, True):
        model = peft_detector(kind, ADAPTER, with_cp=with_cp)
        for tia in model.backbone.adapters.values():
            torch.nn.init.normal_(tia.up.weight, std=0.3,
                                  generator=torch.Generator().manual_seed(0))
        model.train()
        data = model.data_preprocessor(copy.deepcopy(batch(kind)), True)
        loss = sum(model(**data, mode='loss').values())
        loss.backward()
        grads.append((float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters()
                                    if p.grad is not None and 'adapters' in n}))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    assert grads[0][1].keys() == grads[1][1].keys() and grads[0][1]
    for n, g in grads[0][1].items():
        torch.testing.assert_close(grads[1][1][n], g, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('kind', ['vit', 'slowfast'])
def test_training_moves_only_adapters(kind):
    model = peft_detector(kind, ADAPTER, with_cp=True)
    check_training_leaves_backbone(model, kind, 'backbone.adapters.')
