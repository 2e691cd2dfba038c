"""tools/convert_videomaev2.py: a random model saved in the original VideoMAEv2 key
layout converts, loads strictly into mmaction's VisionTransformer and gives the same
taps as the directly built model."""
import importlib.util
import os
import subprocess
import sys

import pytest
import torch
from mmaction.registry import MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, 'tools', 'convert_videomaev2.py')
CLIP, SIZE = 4, 32


def load_tool():
    spec = importlib.util.spec_from_file_location('convert_videomaev2', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def vit_cfg(**over):
    cfg = dict(type='VisionTransformer', img_size=SIZE, patch_size=16, embed_dims=32,
               depth=2, num_heads=4, num_frames=CLIP, tubelet_size=2, qkv_bias=True)
    cfg.update(over)
    return cfg


def random_vit(**over):
    torch.manual_seed(0)
    vit = MODELS.build(vit_cfg(**over))
    with torch.no_grad():
        for p in vit.parameters():
            p.normal_(0, 0.3)
    return vit


def to_videomaev2_layout(vit, num_classes=5):
    """Write the state in VideoMAEv2's modeling_finetune naming (hand-written here,
    independent of the converter's rules). The sinusoid table is not a VideoMAEv2
    state entry, a learnable one is."""
    names = {'patch_embed.projection.': 'patch_embed.proj.',
             'mlp.layers.0.0.': 'mlp.fc1.', 'mlp.layers.1.': 'mlp.fc2.'}
    out = {}
    for key, value in vit.state_dict().items():
        if key == 'pos_embed' and not isinstance(vit.pos_embed, torch.nn.Parameter):
            continue
        for old, new in names.items():
            key = key.replace(old, new)
        out[key] = value.clone()
    out['head.weight'] = torch.randn(num_classes, vit.embed_dims)
    out['head.bias'] = torch.randn(num_classes)
    return out


def taps(vit_state, pretrained=None, **over):
    model = MODELS.build(dict(type='LayerTapViT', vit=vit_cfg(**over), clip_len=CLIP,
                              pretrained=pretrained))
    if pretrained:
        model.init_weights()
    else:
        model.backbone.load_state_dict(vit_state)
    torch.manual_seed(1)
    return model(torch.randn(1, 3, 2 * CLIP, SIZE, SIZE)).feats


@pytest.mark.parametrize('over,wrap', [(dict(), 'model'),
                                       (dict(qkv_bias=False, use_mean_pooling=False,
                                             use_learnable_pos_emb=True, init_values=0.1),
                                        'module')])
def test_convert_cli_roundtrip(tmp_path, over, wrap):
    vit = random_vit(**over)
    src, dst = tmp_path / 'videomaev2.pth', tmp_path / 'mmaction.pth'
    original = to_videomaev2_layout(vit)
    torch.save({wrap: original, 'epoch': 3}, src)
    res = subprocess.run([sys.executable, TOOL, str(src), str(dst), '--num-frames', str(CLIP),
                          '--img-size', str(SIZE)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    state = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    assert torch.equal(state['cls_head.fc_cls.weight'], original['head.weight'])
    backbone = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    fresh = MODELS.build(vit_cfg(**over))
    fresh.load_state_dict(backbone, strict=True)  # nothing missing, nothing extra
    for a, b in zip(taps(vit.state_dict(), **over), taps(None, str(dst), **over)):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_flat_state_and_drop_head():
    tool = load_tool()
    vit = random_vit()
    state = tool.convert_state_dict(to_videomaev2_layout(vit), CLIP, SIZE, drop_head=True)
    assert not any(k.startswith('cls_head') for k in state)
    assert torch.equal(state['backbone.pos_embed'], vit.pos_embed)  # mmaction's table
    assert tool._state_of(to_videomaev2_layout(vit), 'x').keys() == \
        to_videomaev2_layout(vit).keys()


def test_clear_errors():
    tool = load_tool()
    good = to_videomaev2_layout(random_vit())
    pretrain = {'encoder.' + k: v for k, v in good.items()}
    with pytest.raises(KeyError, match='pre-training checkpoint'):
        tool.convert_state_dict(pretrain, CLIP, SIZE, source='pt.pth')
    odd = dict(good, **{'blocks.0.attn.scale': torch.ones(4, 1, 1)})
    with pytest.raises(KeyError, match=r"pt.pth: 1 keys .*blocks.0.attn.scale"):
        tool.convert_state_dict(odd, CLIP, SIZE, source='pt.pth')
    bad = dict(good, **{'blocks.1.attn.q_bias': torch.zeros(31)})
    with pytest.raises(ValueError, match=r'blocks.1.attn.q_bias has shape \(31,\)'):
        tool.convert_state_dict(bad, CLIP, SIZE)
    with pytest.raises(ValueError, match='not divisible'):
        tool.convert_state_dict(good, 5, SIZE)


def test_cli_reports_bad_key(tmp_path):
    src = tmp_path / 'bad.pth'
    torch.save({'model': {'encoder.blocks.0.attn.qkv.weight': torch.zeros(3, 1)}}, src)
    res = subprocess.run([sys.executable, TOOL, str(src), str(tmp_path / 'o.pth')],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and 'pre-training checkpoint' in res.stderr


@pytest.mark.parametrize('neck', ['LastLayerNeck', 'LoSANeck'])
def test_f_n_is_fc_norm_of_the_spatially_pooled_last_block(tmp_path, neck):
    """F_N (head-only's features and LoSA's residual path) equals the converted
    VideoMAEv2 model's own fc_norm applied to the spatial mean of its last block, each
    temporal token, computed here by mmaction's VisionTransformer forward."""
    vit = random_vit()  # random weights, fc_norm's too (not an identity LayerNorm)
    dst = tmp_path / 'mmaction.pth'
    converted = load_tool().convert_state_dict(to_videomaev2_layout(vit), CLIP, SIZE)
    torch.save({'state_dict': converted}, dst)
    model = MODELS.build(dict(type='TALDetector',
                              backbone=dict(type='LayerTapViT', vit=vit_cfg(), clip_len=CLIP,
                                            pretrained=str(dst)),
                              neck=dict(type=neck),
                              head=dict(type='ActionFormerHead', num_classes=2,
                                        in_channels=32, embed_dims=16, head_dims=16,
                                        arch=(1, 1, 1), n_mha_win_size=3,
                                        regress_ranges=((0, 4), (4, 10000)))))
    model.init_weights()
    model.eval()
    torch.manual_seed(2)
    frames = torch.randn(1, 3, 3 * CLIP, SIZE, SIZE)
    with torch.no_grad():
        feats, mask = model.neck(model.backbone(frames))  # [1, C, 3 * T_N]
        # independent path: mmaction's forward with the feature map, per clip
        plain = MODELS.build(vit_cfg(return_feat_map=True))
        state = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
        plain.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                               if k.startswith('backbone.')})
        plain.eval()
        fmap = plain(frames.view(1, 3, 3, CLIP, SIZE, SIZE).transpose(1, 2)
                     .reshape(3, 3, CLIP, SIZE, SIZE))  # [3, C, T_N, h, w]
        expected = plain.fc_norm(fmap.mean(dim=(3, 4)).transpose(1, 2))  # [3, T_N, C]
    assert mask.all()
    torch.testing.assert_close(feats[0].T, expected.reshape(-1, 32), rtol=0, atol=1e-5)
    # not trivially: the raw spatial mean is far from it
    assert (fmap.mean(dim=(3, 4)).transpose(1, 2).reshape(-1, 32) - feats[0].T).abs().max() > 0.1
