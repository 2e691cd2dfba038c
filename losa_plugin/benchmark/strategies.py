"""Training strategies (head-only / LoSA / full fine-tuning) as config deltas.

A LoSA config (``LayerTapViT`` / ``LayerTapSlowFast`` backbone + ``LoSANeck``) is turned
into the other two strategies the same way the baseline configs under
``configs/baselines/`` are written:

* ``head_only``: ``neck=LastLayerNeck`` and the backbone taps only its last layer
  (``tap_layers=[-1]``; nothing else is needed by the neck, so nothing else is stored);
* ``losa``: the config as given;
* ``full_ft``: ``frozen=False``, ``with_cp=True`` (activation checkpointing per block,
  as ``configs/baselines/full-ft_*``), float32 backbone, ``LastLayerNeck`` and
  ``tap_layers=[-1]``;
* ``full_ft_nocp``: as ``full_ft`` without checkpointing.
"""
import copy
from typing import Dict

STRATEGIES = ('head_only', 'losa', 'full_ft', 'full_ft_nocp')


def infer_strategy(model_cfg: Dict) -> str:
    """The strategy a model config implements (``head_only`` | ``losa`` | ``full_ft`` |
    ``full_ft_nocp``), read from its backbone's ``frozen`` / ``with_cp`` and neck type."""
    backbone = _inner_backbone(model_cfg)
    if backbone is None:
        raise ValueError('infer_strategy: the model has no backbone (a feature-only config '
                         'has no training-memory strategy to compare)')
    if not backbone.get('frozen', True):
        return 'full_ft' if backbone.get('with_cp', False) else 'full_ft_nocp'
    neck_type = (model_cfg.get('neck') or {}).get('type', '')
    return 'losa' if 'LoSA' in str(neck_type) else 'head_only'


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
    backbone = dict(backbone)
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
