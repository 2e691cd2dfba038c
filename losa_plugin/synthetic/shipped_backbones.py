"""Pretrained tiny backbones shipped with the repository (``checkpoints/synthetic/``).

The benchmark's backbones play VideoMAEv2's part: a model pretrained once, on a
recognition task, that every TAL strategy starts from. Pretraining them to their plateau
takes ~18 minutes of one core (both regimes; docs/synthetic_benchmark.md, "Time"), more
than half of what the main job's 30 TAL runs take together, so the repository
ships the backbones of the default data seed and the main job loads them, as a user
downloads VideoMAEv2's weights instead of pretraining them.

A shipped file is only used when it was made by exactly the pretraining the benchmark
would run: its name carries :func:`pretrain_key`, a hash of everything that decides the
weights (the regime's backbone, the clips' generator config, their number and seed, the
resolved pretraining config: model, optimiser, schedule, hooks, batch, pipelines,
randomness). Change any of them and the benchmark pretrains as before. ``--pretrain``
pretrains even when a shipped file matches, and then reports whether the weights came
out bit for bit the same (:func:`compare_with_shipped`).

File layout (``torch.load(..., weights_only=True)``): ``{'state_dict': {'backbone.<k>':
tensor}, 'meta': {'key', 'regime', 'key_fields' (JSON), 'pretrain' (the curve and times
of the run that made it), 'source_checkpoint_sha1'}}``; :class:`LayerTapViT` reads it as
any MMAction2 recognizer checkpoint.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, Optional

import torch

from .clip_tap_cache import file_sha1
from .regimes import REPO_ROOT, Regime

SHIPPED_DIR = osp.join(REPO_ROOT, 'checkpoints', 'synthetic')
_PATH_KEYS = ('ann_file', 'data_prefix', 'data_root', 'work_dir')


def _strip(obj):
    """Config values without data paths and per-process cache sizes (they do not change
    the weights)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in sorted(obj.items())
                if k not in _PATH_KEYS and k != 'cache_mb'}
    if isinstance(obj, (list, tuple)):
        return [_strip(v) for v in obj]
    return obj


def key_fields(regime: Regime, spec: Dict, num_per_class: int, data_seed: int) -> Dict:
    """Everything that decides a pretraining's weights (JSON-able)."""
    from mmengine.config import Config
    cfg = Config.fromfile(spec['config'])
    cfg.merge_from_dict(spec.get('overrides', {}))
    loaders = {name: _strip(dict(batch_size=cfg[name].batch_size, sampler=cfg[name].sampler,
                                 pipeline=cfg[name].dataset.pipeline))
               for name in ('train_dataloader', 'val_dataloader')}
    fields = dict(regime=regime.name,
                  clips=dict(generator=regime.pretrain_cfg().to_dict(),
                             num_per_class=int(num_per_class), data_seed=int(data_seed)),
                  model=_strip(cfg.model), optim_wrapper=_strip(cfg.optim_wrapper),
                  param_scheduler=_strip(cfg.param_scheduler),
                  custom_hooks=_strip(cfg.get('custom_hooks', [])),
                  train_cfg=_strip(cfg.train_cfg), randomness=_strip(cfg.randomness),
                  loaders=loaders, threads=int(spec.get('threads', 1)))
    return json.loads(json.dumps(fields, sort_keys=True, default=str))


def pretrain_key(fields: Dict) -> str:
    """12 hex digits of the SHA-1 of :func:`key_fields`."""
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def shipped_path(regime: str, key: str, root: str = SHIPPED_DIR) -> str:
    return osp.join(root, f'{regime}-{key}.pth')


def find_shipped(regime: str, key: str, root: str = SHIPPED_DIR) -> Optional[str]:
    """The shipped backbone of exactly this pretraining, or None."""
    path = shipped_path(regime, key, root)
    return path if osp.isfile(path) else None


def _backbone_state(checkpoint: str) -> Dict[str, torch.Tensor]:
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt)
    out = {k: v for k, v in state.items() if k.startswith('backbone.')}
    if not out:
        raise KeyError(f'{checkpoint}: no backbone.* weights (expected a recognizer '
                       'checkpoint of the pretraining)')
    return out


def export_backbone(checkpoint: str, fields: Dict, pretrain_info: Dict,
                    root: str = SHIPPED_DIR) -> str:
    """Write the backbone of a finished pretraining ``checkpoint`` as a shipped file.

    Args:
        checkpoint (str): the pretraining's last mmengine checkpoint.
        fields (dict): its :func:`key_fields`.
        pretrain_info (dict): the curve and times to keep with it (JSON-able).
        root (str): the folder. Default :data:`SHIPPED_DIR`.

    Returns:
        str: the written path (named by the key).
    """
    key = pretrain_key(fields)
    os.makedirs(root, exist_ok=True)
    path = shipped_path(fields['regime'], key, root)
    info = {k: v for k, v in pretrain_info.items() if k != 'checkpoint'}
    meta = dict(key=key, regime=fields['regime'], key_fields=json.dumps(fields, sort_keys=True),
                pretrain=json.dumps(info, sort_keys=True),
                source_checkpoint_sha1=file_sha1(checkpoint))
    torch.save(dict(state_dict=_backbone_state(checkpoint), meta=meta), path)
    return path


def shipped_meta(path: str) -> Dict:
    """``meta`` of a shipped file, with ``pretrain`` and ``key_fields`` decoded."""
    meta = dict(torch.load(path, map_location='cpu', weights_only=True)['meta'])
    meta['pretrain'] = json.loads(meta['pretrain'])
    meta['key_fields'] = json.loads(meta['key_fields'])
    return meta


def compare_with_shipped(checkpoint: str, shipped: str) -> Dict[str, object]:
    """Does a pretraining run's backbone equal the shipped one? ``{'equal': bool,
    'max_abs_diff': float, 'shipped': path}``."""
    mine = _backbone_state(checkpoint)
    theirs = torch.load(shipped, map_location='cpu', weights_only=True)['state_dict']
    if set(mine) != set(theirs):
        return dict(equal=False, max_abs_diff=float('inf'), shipped=shipped)
    diff = max(float((mine[k].float() - theirs[k].float()).abs().max()) for k in mine)
    equal = all(torch.equal(mine[k], theirs[k]) for k in mine)
    return dict(equal=equal, max_abs_diff=diff, shipped=shipped)
