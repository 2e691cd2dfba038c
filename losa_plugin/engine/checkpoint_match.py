"""Strict checkpoint loading: the trained parts must match the model exactly.

mmengine's ``Runner.load_checkpoint`` (``load_from``, ``tools/test.py``, ``--resume``)
loads with ``strict=False``: a checkpoint of another model only gives warnings, the
model keeps random weights where keys miss or shapes differ, and ``tools/test.py``
prints a plausible mAP of mostly random weights with exit 0.
:func:`check_checkpoint_matches` runs before that load (from
``TrainableCheckpointHook.after_load_checkpoint``, after a trainable-only checkpoint's
backbone is re-attached, and from :func:`load_tal_checkpoint`) and refuses any missing,
unexpected or mis-shaped key and any non-finite value, listing them.

The one expected difference: a checkpoint without *any* key of a frozen, pretrained
backbone (a checkpoint of the trainable part written by other means): the backbone is
then taken from the config's ``pretrained`` file (loaded now if the model has not loaded
it yet) and logged. Partly missing backbone keys remain an error.
"""
import re
from typing import Dict, List

import torch
from mmengine.logging import MMLogger
from torch import nn

from .frozen_backbone import find_frozen_backbone

_SHOW = 20  # keys listed per kind of mismatch


def _revised(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    # mmengine's loading strips a DDP 'module.' prefix (revise_keys); compare the same
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def _listed(title: str, items: List[str]) -> str:
    more = f' ... and {len(items) - _SHOW} more' if len(items) > _SHOW else ''
    return f'\n  {title} ({len(items)}): ' + ', '.join(items[:_SHOW]) + more


def check_checkpoint_matches(model: nn.Module, checkpoint: dict,
                             checkpoint_name: str = 'the checkpoint',
                             check_finite: bool = True) -> None:
    """Raise ``ValueError`` unless ``checkpoint['state_dict']`` fits ``model`` exactly.

    A checkpoint lacking every key of the model's frozen, pretrained backbone is
    completed in place from the backbone's ``pretrained`` file (see the module
    docstring).

    Raises:
        ValueError: listing the missing, unexpected and mis-shaped keys, and the
            tensors holding NaN / inf, with the checkpoint's name.
    """
    state = checkpoint.get('state_dict') if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{checkpoint_name}: no 'state_dict' in the checkpoint")
    revised = _revised(state)
    own = model.state_dict()
    missing = [k for k in own if k not in revised]
    frozen = find_frozen_backbone(model)
    if frozen is not None and missing:
        backbone_keys = [frozen.prefix + k for k in frozen.module.state_dict()]
        absent = set(missing) & set(backbone_keys)
        if len(absent) == len(backbone_keys):
            if not getattr(frozen.wrapper, '_is_init', False):
                frozen.wrapper.load_backbone_checkpoint(frozen.pretrained)
                frozen.wrapper._is_init = True
            for k, v in frozen.module.state_dict().items():
                state[frozen.prefix + k] = v
                revised[frozen.prefix + k] = v
            missing = [k for k in missing if k not in absent]
            MMLogger.get_current_instance().info(
                f'{checkpoint_name}: holds no weight of the frozen backbone; using those '
                f'of its pretrained file {frozen.pretrained}')
    unexpected = [k for k in revised if k not in own]
    shapes = [f'{k} {tuple(revised[k].shape)} (model {tuple(own[k].shape)})'
              for k in own if k in revised and isinstance(revised[k], torch.Tensor)
              and tuple(revised[k].shape) != tuple(own[k].shape)]
    bad = []
    if check_finite:
        bad = [k for k, v in revised.items() if isinstance(v, torch.Tensor)
               and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if not (missing or unexpected or shapes or bad):
        return
    msg = f'{checkpoint_name} does not match the model of this config:'
    if missing:
        msg += _listed('missing from the checkpoint', missing)
    if unexpected:
        msg += _listed('not in the model', unexpected)
    if shapes:
        msg += _listed('shape differs', shapes)
    if bad:
        msg += _listed('NaN / inf values', bad)
    msg += ('\nIs it a checkpoint of another config (num_classes, widths, layers)? To load '
            'a partial checkpoint on purpose (e.g. fine-tuning from another dataset), set '
            'TrainableCheckpointHook(strict_load=False).')
    raise ValueError(msg)

