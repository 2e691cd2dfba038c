"""Training strategies (head-only / LoSA / full fine-tuning / the parameter-efficient
baselines) as config deltas.

A LoSA config (``LayerTapViT`` / ``LayerTapSlowFast`` backbone + ``LoSANeck``) is turned
into the other two strategies the same way the baseline configs under
``configs/baselines/`` are written:

* ``head_only``: ``neck=LastLayerNeck`` and the backbone taps only its last layer
  (``tap_layers=[-1]``; nothing else is needed by the neck, so nothing else is stored);
* ``losa``: the config as given (any memory mode, e.g. ``tap_recompute``);
* ``full_ft``: ``frozen=False``, ``with_cp=True`` (activation checkpointing per block,
  as ``configs/baselines/full-ft_*``), float32 backbone, ``LastLayerNeck`` and
  ``tap_layers=[-1]``;
* ``full_ft_nocp``: as ``full_ft`` without checkpointing;
* ``st_adapter``, ``aim``, ``adatad`` (adapters inside the frozen backbone) and ``unipt``
  (a parallel neck over the taps): the model delta of the method's baseline config,
  ``configs/baselines/{method}_videomaev2-b_thumos14.py`` for a ViT backbone and
  ``..._slowfast101_thumos14.py`` for SlowFast (the backbone's ``type``, ``adapter``,
  ``tap_layers``, ``with_cp`` and the neck), so the benchmark measures what the configs
  train (see docs/baselines.md).

The LoSA memory modes that only LoSA's neck makes sense of (``tap_recompute``) are
dropped from the backbone of every other strategy.
"""
import copy
import os.path as osp
from typing import Dict

import losa_plugin.models.backbones.peft  # noqa: F401  (registers the adapters)
import losa_plugin.models.necks.unipt_neck  # noqa: F401

#: the parameter-efficient baselines: strategy name -> baseline config name prefix
METHODS = {'st_adapter': 'st-adapter', 'aim': 'aim', 'unipt': 'unipt', 'adatad': 'adatad'}
STRATEGIES = ('head_only', 'losa', 'full_ft', 'full_ft_nocp') + tuple(METHODS)
#: adapter type inside a PEFT backbone -> strategy
_ADAPTER_STRATEGY = {'STAdapter': 'st_adapter', 'AIMAdapter': 'aim', 'TIAdapter': 'adatad'}
_CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                       'configs', 'baselines')


def infer_strategy(model_cfg: Dict) -> str:
    """The strategy a model config implements (one of :data:`STRATEGIES`), read from its
    backbone's type, adapter, ``frozen`` / ``with_cp`` and its neck type."""
    backbone = _inner_backbone(model_cfg)
    if backbone is None:
        raise ValueError('infer_strategy: the model has no backbone (a feature-only config '
                         'has no training-memory strategy to compare)')
    if str(backbone.get('type', '')).startswith('PEFT'):
        adapter = str((backbone.get('adapter') or {}).get('type'))
        if adapter not in _ADAPTER_STRATEGY:
            raise ValueError(f'infer_strategy: unknown adapter type {adapter!r}')
        return _ADAPTER_STRATEGY[adapter]
    if not backbone.get('frozen', True):
        return 'full_ft' if backbone.get('with_cp', False) else 'full_ft_nocp'
    neck_type = str((model_cfg.get('neck') or {}).get('type', ''))
    if 'UniPT' in neck_type:
        return 'unipt'
    return 'losa' if 'LoSA' in neck_type else 'head_only'


def _inner_backbone(model_cfg: Dict):
    backbone = model_cfg.get('backbone')
    # a cached-tap wrapper keeps the real backbone under ``backbone``
    while isinstance(backbone, dict) and isinstance(backbone.get('backbone'), dict):
        backbone = backbone['backbone']
    return backbone


def derive_strategy_cfg(model_cfg: Dict, strategy: str) -> Dict:
    """A copy of a LoSA ``model_cfg`` turned into ``strategy`` (see module docstring).

    Args:
        model_cfg (dict): a ``TALDetector`` config with a layer-tap backbone and a
            ``LoSANeck``.
        strategy (str): one of :data:`STRATEGIES`.

    Returns:
        dict: the new model config (the input is not modified).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f'derive_strategy_cfg: strategy must be one of {STRATEGIES}, '
                         f'got {strategy!r}')
    cfg = copy.deepcopy(dict(model_cfg))
    backbone = cfg.get('backbone')
    if not isinstance(backbone, dict) or 'LayerTap' not in str(backbone.get('type', '')):
        raise ValueError('derive_strategy_cfg: model.backbone must be a LayerTapViT / '
                         f'LayerTapSlowFast config, got {backbone!r:.80}')
    if strategy == 'losa':
        return cfg
    # recomputing taps needs LoSA's per-clip spatial blocks; no other strategy has them
    cfg['backbone'] = {k: v for k, v in backbone.items() if k != 'tap_recompute'}
    if strategy in METHODS:
        return _derive_method(cfg, strategy)
    backbone = dict(cfg['backbone'])
    backbone['tap_layers'] = [-1]
    if strategy.startswith('full_ft'):
        backbone.update(frozen=False, with_cp=strategy == 'full_ft', dtype=None)
    neck = cfg.get('neck') or {}
    out_channels = neck.get('out_channels')
    cfg['neck'] = dict(type='LastLayerNeck')
    if out_channels is not None:
        in_channels = neck.get('in_channels')
        last = in_channels[-1] if isinstance(in_channels, (list, tuple)) else in_channels
        cfg['neck'].update(in_channels=last, out_channels=out_channels)
    cfg['backbone'] = backbone
    return cfg


def method_delta(strategy: str, backbone_type: str) -> Dict:
    """``dict(backbone=..., neck=...)``: what a baseline config changes in a LoSA model,
    read from ``configs/baselines/{method}_{videomaev2-b|slowfast101}_thumos14.py``."""
    from mmengine.config import Config
    kind = 'slowfast101' if 'SlowFast' in backbone_type else 'videomaev2-b'
    path = osp.join(_CONFIG_DIR, f'{METHODS[strategy]}_{kind}_thumos14.py')
    model = Config.fromfile(path).model.to_dict()
    bb = model['backbone']
    keys = ('type', 'adapter', 'tap_layers', 'with_cp') if strategy != 'unipt' else ()
    return dict(backbone={k: bb[k] for k in keys if k in bb}, neck=model['neck'])


def _derive_method(cfg: Dict, strategy: str) -> Dict:
    backbone = dict(cfg['backbone'])
    delta = method_delta(strategy, str(backbone['type']))
    backbone.update(copy.deepcopy(delta['backbone']))
    neck = dict(delta['neck'])
    old = cfg.get('neck') or {}
    if old.get('out_channels') is not None:  # keep the head's input width
        in_channels = old.get('in_channels')
        last = in_channels[-1] if isinstance(in_channels, (list, tuple)) else in_channels
        neck['out_channels'] = old['out_channels']
        if neck['type'] == 'LastLayerNeck':
            neck['in_channels'] = last
    cfg['backbone'], cfg['neck'] = backbone, neck
    return cfg
