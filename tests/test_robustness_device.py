"""Issue 16, point 6: device placement without a GPU (docs/robustness.md).

1. Every shipped model config's forward (backbone taps, neck, head outputs) runs with
   model and inputs on PyTorch's ``meta`` device. A tensor created on the CPU inside
   ``forward`` (``torch.zeros(n)``, ``torch.tensor(...)``, ``torch.arange`` without
   ``device=``) then meets meta tensors and fails, exactly as it would meet CUDA tensors
   on a GPU; so do ``.cpu()`` / ``.numpy()`` round trips.
2. The parts that cannot run on meta (they need values: the data-dependent clip
   selection of ``skip_padded_clips``, ActionFormer's padding and position embedding
   per valid length, label assignment, NMS) run on real CPU tensors with the *default*
   device set to ``meta``: every tensor created without ``device=`` lands on meta and
   fails when it meets the CPU data, the same mistake a GPU would punish.
"""
import contextlib
import glob
import inspect
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample

from losa_plugin.models.backbones.base_layer_tap import BaseLayerTap
from losa_plugin.utils.meta_build import build_model_on_meta

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
FOLDERS = ('losa', 'losa/ablations', 'baselines', 'head_only', 'efficiency', 'synthetic',
           'synthetic/ablations', 'synthetic/baselines')


def _model_configs():
    """Shipped TAL model configs, one per distinct model (data-set variants with the
    same model are tested once)."""
    init_default_scope('mmaction')
    seen, out = set(), []
    for folder in FOLDERS:
        for path in sorted(glob.glob(osp.join(ROOT, 'configs', folder, '*.py'))):
            cfg = Config.fromfile(path)
            model = cfg.get('model')
            if not model or model.get('type') != 'TALDetector':
                continue  # the synthetic pretraining recognizer, shared fragments
            if 'Cached' in str((model.get('backbone') or {}).get('type', '')):
                continue  # hashes the frames on the host by design (docs/robustness.md)
            key = json.dumps(model.to_dict(), sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                out.append(osp.relpath(path, ROOT))
    return out


CONFIGS = _model_configs()


@contextlib.contextmanager
def _no_autocast_on_meta():
    """Autocast has no meta back-end; it decides dtypes, not devices, so it is
    switched off for meta tensors only."""
    orig_autocast, orig_enabled = torch.autocast, torch.is_autocast_enabled

    def autocast(device_type, *args, **kwargs):
        if device_type == 'meta':
            return contextlib.nullcontext()
        return orig_autocast(device_type, *args, **kwargs)

    def is_enabled(*args):
        if args and args[0] == 'meta':
            return False
        return orig_enabled(*args)

    torch.autocast, torch.is_autocast_enabled = autocast, is_enabled
    try:
        yield
    finally:
        torch.autocast, torch.is_autocast_enabled = orig_autocast, orig_enabled


@contextlib.contextmanager
def _no_weight_init():
    """Skip the constructors' weight initialisation while building on meta (the values
    are thrown away; it makes ViT-g's build ~8x faster)."""
    names = [n for n in dir(torch.nn.init) if n.endswith('_') and not n.startswith('_')]
    orig = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for n, f in orig.items():
            setattr(torch.nn.init, n, f)


def _meta_ready(model_cfg):
    """The settings whose forward needs values, switched to their data-independent
    twin (the data-dependent ones are the second test's)."""
    model_cfg.head['padding'] = 'invariant'
    model_cfg.head['use_abs_pe'] = False
    backbone = model_cfg.get('backbone')
    if backbone is not None:
        backbone['pretrained'] = None
        if issubclass(MODELS.get(backbone['type']), BaseLayerTap) and 'skip_padded_clips' \
                in inspect.signature(BaseLayerTap.__init__).parameters:
            backbone['skip_padded_clips'] = False
    return model_cfg


def _all_meta(obj, where):
    tensors = obj if isinstance(obj, (list, tuple)) else [obj]
    for t in tensors:
        if isinstance(t, (list, tuple)):
            _all_meta(t, where)
        elif isinstance(t, torch.Tensor):
            assert t.is_meta, f'{where}: a {t.device} tensor {tuple(t.shape)}'


@pytest.mark.parametrize('config', CONFIGS)
def test_forward_on_meta(config):
    init_default_scope('mmaction')
    cfg = Config.fromfile(osp.join(ROOT, config))
    with _no_weight_init():
        model = build_model_on_meta(_meta_ready(cfg.model)).to('meta')
    model.train()
    if model.backbone is not None:
        clip = int(getattr(model.backbone, 'clip_len', 16))
        pad = int(getattr(model.data_preprocessor, 'pad_multiple', clip) or clip)
        frames = max(2 * clip, pad)
        inputs = torch.empty(2, 3, frames, 64, 64, device='meta')
        taps = []
        model.backbone.register_forward_hook(lambda m, a, out: taps.append(out))
    else:
        inputs = torch.empty(2, model.head.in_channels, 64, device='meta')
    length = inputs.shape[2] if inputs.dim() == 5 else inputs.shape[-1]
    samples = [ActionDataSample(metainfo=dict(valid_len=length)),
               ActionDataSample(metainfo=dict(valid_len=length // 2))]
    with _no_autocast_on_meta():
        feats, mask = model.extract_feat(inputs, samples)
        outputs = model.head(feats, mask)
    if model.backbone is not None:
        _all_meta(list(taps[0].feats) + [taps[0].clip_mask], 'backbone taps')
    _all_meta([feats, mask], 'neck output')
    _all_meta(outputs, 'head outputs')
    assert feats.shape[:2] == (2, model.head.in_channels)


def _samples(valid):
    out = []
    for v in valid:
        s = ActionDataSample(metainfo=dict(valid_len=v, fps=12.0, feature_stride=2.0,
                                           window_offset=1.0, duration=20.0))
        s.gt_instances = InstanceData(segments=torch.tensor([[2.0, 10.0], [12.0, 20.0]]),
                                      labels=torch.tensor([0, 1]))
        out.append(s)
    return out


DATA_DEPENDENT = [
    # raw frames: skip_padded_clips, the LoSA neck, ActionFormer padding, loss, NMS
    'configs/synthetic/losa_vit-tiny_synthetic.py',
    'configs/synthetic/head-only_vit-tiny_synthetic.py',
    'configs/synthetic/full-ft_vit-tiny_synthetic.py',
    'configs/synthetic/baselines/adatad_vit-tiny_synthetic.py',
    'configs/synthetic/baselines/aim_vit-tiny_synthetic.py',
    'configs/synthetic/baselines/st-adapter_vit-tiny_synthetic.py',
    'configs/synthetic/baselines/unipt_vit-tiny_synthetic.py',
    # features: ActionFormer's padding (THUMOS-14), absolute position embedding and
    # class-agnostic NMS (ActivityNet)
    'configs/head_only/actionformer_i3d_thumos14_features.py',
    'configs/head_only/actionformer_tsp_activitynet13_features.py',
]


@pytest.mark.parametrize('config', DATA_DEPENDENT)
def test_data_dependent_parts_follow_the_input_device(config):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, config))
    if cfg.model.get('backbone') is not None:
        cfg.model.backbone.pretrained = None
        inputs, valid = torch.randn(2, 3, 48, 64, 64), [48, 20]  # one padded clip
    else:
        inputs, valid = torch.randn(2, cfg.model.head.in_channels, 64), [64, 30]
    model = MODELS.build(cfg.model)
    model.init_weights()
    for mode in ('loss', 'predict'):
        model.train(mode == 'loss')
        samples = _samples(valid)  # made on the CPU, as the data pipeline makes them
        torch.set_default_device('meta')
        try:
            out = model(inputs, samples, mode=mode)
        finally:
            torch.set_default_device(None)
        if mode == 'loss':
            assert all(v.device.type == 'cpu' and torch.isfinite(v) for v in out.values())
        else:
            for s in out:
                assert s.pred_instances.segments.device.type == 'cpu'
                assert len(s.pred_instances.scores) > 0
