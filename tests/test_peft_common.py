"""Shared set-up of the parameter-efficient baseline tests (test_peft_*.py), and the
checks every method must pass: configs build and differ from LoSA only in the
adaptation; the wrappers refuse what they cannot do."""
import copy
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import losa_plugin.models.backbones.peft  # noqa: F401  (registers the adapters)
import losa_plugin.models.necks.unipt_neck  # noqa: F401
from losa_plugin.utils.meta_build import build_model_on_meta
from tests.test_layer_tap_slowfast import randomise, tiny_slowfast
from tests.test_losa_detector import make_batch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BACKBONES = ('videomaev2-b', 'videomaev2-g', 'slowfast101')
TINY_VIT = dict(type='VisionTransformer', img_size=32, patch_size=8, embed_dims=32,
                depth=3, num_heads=2, mlp_ratio=2, num_frames=8, tubelet_size=2)
VIT_CLIP, SF_CLIP = 8, 16
SF_HEAD_IN = 4 * 8 * 8 + 4 * 2 * 8  # slow stage 4 ++ fast stage 4 of the tiny SlowFast


def head_cfg(in_channels: int) -> dict:
    return dict(type='ActionFormerHead', num_classes=3, in_channels=in_channels,
                embed_dims=32, head_dims=32, arch=(1, 1, 2), n_mha_win_size=5, num_heads=2,
                drop_path=0.0, regress_ranges=((0, 4), (4, 8), (8, 10000)))


def detector(backbone: dict, neck: dict, kind: str) -> torch.nn.Module:
    """A tiny TALDetector over the tiny ViT (``kind='vit'``) or SlowFast."""
    clip = VIT_CLIP if kind == 'vit' else SF_CLIP
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='TALDetector',
        data_preprocessor=dict(type='TALDataPreprocessor', mean=[120.0] * 3, std=[60.0] * 3,
                               pad_multiple=clip),
        backbone=backbone, neck=neck,
        head=head_cfg(32 if kind == 'vit' else SF_HEAD_IN)))
    if kind == 'slowfast':
        live_randomise(model.backbone.backbone)
    return model


def live_randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """``randomise`` with the BatchNorm shifts made positive, so that no ReLU of the
    tiny random SlowFast is dead everywhere (a dead ``conv2`` would leave an adapter
    with zero gradient by chance, not by a bug)."""
    randomise(module, seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.bias.abs_().add_(0.5)


def backbone_cfg(kind: str, adapter=None, **kw) -> dict:
    """Plain (``adapter=None``) or PEFT layer-tap backbone of the tiny ViT / SlowFast."""
    if kind == 'vit':
        cfg = dict(type='LayerTapViT', vit=TINY_VIT, clip_len=VIT_CLIP, clip_batch=2)
    else:
        cfg = dict(type='LayerTapSlowFast', slowfast=tiny_slowfast(), clip_len=SF_CLIP,
                   clip_batch=2)
    if adapter is not None:
        cfg['type'] = 'PEFT' + cfg['type']
        cfg['adapter'] = adapter
    cfg.update(kw)
    return cfg


def peft_detector(kind: str, adapter: dict, **kw) -> torch.nn.Module:
    return detector(backbone_cfg(kind, adapter, tap_layers=[-1], **kw),
                    dict(type='LastLayerNeck'), kind)


def batch(kind: str, num_clips: int = 4) -> dict:
    """Two windows of ``num_clips`` clips (the second one clip shorter: padded)."""
    clip = VIT_CLIP if kind == 'vit' else SF_CLIP
    return make_batch(num_clips * clip, clip, 4)


def train_steps(model: torch.nn.Module, kind: str, steps: int = 2, lr: float = 1e-2):
    """Real AdamW steps on a fixed batch; returns the per-step losses and the
    parameters that had a gradient (name -> grad was non-zero) at the last step."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=lr)
    data = batch(kind)
    losses, had_grad = [], {}
    for _ in range(steps):
        optim.zero_grad()
        inputs = model.data_preprocessor(copy.deepcopy(data), True)
        loss = sum(model(**inputs, mode='loss').values())
        loss.backward()
        had_grad = {n: p.grad is not None and bool(p.grad.abs().sum() > 0)
                    for n, p in model.named_parameters() if p.requires_grad}
        optim.step()
        losses.append(float(loss.detach()))
    return losses, had_grad


def check_training_leaves_backbone(model: torch.nn.Module, kind: str, learn_prefix: str,
                                   no_grad_ok: tuple = ()):
    """Train two steps and check: every learnable parameter outside the head starts with
    ``learn_prefix``; the wrapped backbone's parameters and buffers are unchanged and
    never get a gradient; the adapters' parameters (but ``no_grad_ok``, which have none
    by construction) all receive gradient and move."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    own = [n for n in names if not n.startswith('head.')]
    assert own and all(n.startswith(learn_prefix) for n in own), own[:5]
    bb = model.backbone.backbone
    assert not any(p.requires_grad for p in bb.parameters())
    before_bb = copy.deepcopy(bb.state_dict())
    before_own = {n: p.detach().clone() for n, p in model.named_parameters() if n in own}
    losses, had_grad = train_steps(model, kind)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert not bb.training  # the backbone stays in eval mode under model.train()
    for n, p in bb.named_parameters():
        assert p.grad is None, n
    for k, v in bb.state_dict().items():
        assert torch.equal(v, before_bb[k]), k  # weights and BN statistics
    own = [n for n in own if n not in no_grad_ok]
    missing = [n for n in own if not had_grad[n]]
    assert not missing, missing[:5]
    moved = [n for n, p in model.named_parameters()
             if n in own and not torch.equal(p.detach(), before_own[n])]
    assert len(moved) == len(own), sorted(set(own) - set(moved))[:5]


def build_config(method: str, backbone: str):
    path = osp.join(ROOT, f'configs/baselines/{method}_{backbone}_thumos14.py')
    cfg = Config.fromfile(path)
    init_default_scope('mmaction')
    return cfg, build_model_on_meta(cfg.model.to_dict())


def check_configs(method: str, learn_prefix: str, adapter_type: str):
    """Each config builds (on the meta device); only ``learn_prefix``, the head and the
    F_N projection shared with head-only (SlowFast: ``Linear(2304, 512)``) learn; head,
    data, schedule and runtime equal the LoSA config's."""
    for backbone in BACKBONES:
        cfg, model = build_config(method, backbone)
        losa = Config.fromfile(osp.join(ROOT, f'configs/losa/losa_{backbone}_thumos14.py'))
        for key in ('train_dataloader', 'val_dataloader', 'param_scheduler', 'optim_wrapper',
                    'train_cfg', 'custom_hooks'):
            assert cfg[key] == losa[key], (backbone, key)
        assert cfg.model.head == losa.model.head
        allowed = (learn_prefix, 'head.')
        if cfg.model.neck.type == 'LastLayerNeck':  # the same F_N as head-only
            head_only = Config.fromfile(osp.join(
                ROOT, f'configs/baselines/head-only-online_{backbone}_thumos14.py'))
            assert cfg.model.neck == head_only.model.neck, backbone
            allowed += ('neck.proj.', )
        learn = [n for n, p in model.named_parameters() if p.requires_grad]
        assert all(n.startswith(allowed) for n in learn), backbone
        assert any(n.startswith(learn_prefix) for n in learn), backbone
        if adapter_type is not None:
            assert model.backbone.adapters, backbone
            types = {type(a).__name__ for a in model.backbone.adapters.values()}
            assert types == {adapter_type}, types
            # one adapter per block of the backbone
            blocks = (len(model.backbone.backbone.blocks) if backbone != 'slowfast101'
                      else 2 * 33)
            assert len(model.backbone.adapters) == blocks
            assert model.backbone.layer_ids[-1] == model.backbone.tap_specs()['layer_ids'][-1]


# ------------------------------------------------------------------ wrapper checks
def test_wrappers_refuse_unfrozen_backbone_and_unknown_adapters():
    with pytest.raises(ValueError, match='frozen'):
        MODELS.build(backbone_cfg('vit', dict(type='STAdapter'), frozen=False))
    with pytest.raises(ValueError, match='BlockAdapter'):
        MODELS.build(backbone_cfg('vit', dict(type='LastLayerNeck')))
    with pytest.raises(ValueError, match='block id'):
        MODELS.build(backbone_cfg('vit', dict(type='STAdapter'), adapter_blocks=[4]))
    with pytest.raises(ValueError, match='residual block'):
        MODELS.build(backbone_cfg('slowfast', dict(type='STAdapter'),
                                  adapter_blocks=['slow_path.layer9.0']))


def test_slowfast_wrapper_leaves_no_bound_forward_and_copies_run():
    """The per-call block forwards are removed afterwards, so a deep copy (an EMA model)
    runs its own adapters: zeroing the copy's adapters changes only the copy."""
    model = MODELS.build(backbone_cfg('slowfast', dict(type='STAdapter', ratio=0.5),
                                      tap_layers=[-1]))
    randomise(model.backbone)
    for a in model.adapters.values():
        torch.nn.init.normal_(a.pre_attn.conv.weight, std=0.5)
    model.eval()
    frames = torch.randn(1, 3, SF_CLIP, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(frames).feats[-1]
        assert not any('forward' in m.__dict__ for m in model.backbone.modules())
        twin = copy.deepcopy(model)
        for a in twin.adapters.values():
            torch.nn.init.zeros_(a.pre_attn.conv.weight)
        assert torch.equal(model(frames).feats[-1], out)
        assert not torch.allclose(twin(frames).feats[-1], out)


def test_synthetic_baseline_configs_are_deltas_over_the_base():
    """Each synthetic baseline builds, trains only its adapters / neck beside the head,
    and keeps the base's data, head and schedule."""
    from losa_plugin.synthetic.baseline_strategies import BASELINE_STRATEGIES
    base = Config.fromfile(osp.join(ROOT, 'configs/synthetic/base_tal_vit-tiny_synthetic.py'))
    assert set(BASELINE_STRATEGIES) == {'st_adapter', 'aim', 'unipt', 'adatad'}
    for name, path in BASELINE_STRATEGIES.items():
        cfg = Config.fromfile(path)
        for key in ('train_dataloader', 'param_scheduler', 'optim_wrapper', 'train_cfg'):
            assert cfg[key] == base[key], (name, key)
        assert cfg.model.head == base.model.head
        init_default_scope('mmaction')
        model = build_model_on_meta(cfg.model.to_dict())
        own = 'neck.' if name == 'unipt' else 'backbone.adapters.'
        learn = [n for n, p in model.named_parameters() if p.requires_grad]
        assert any(n.startswith(own) for n in learn), name
        assert all(n.startswith((own, 'head.')) for n in learn), name
