"""Trainable-only checkpoints of models with a frozen, pretrained backbone.

A frozen backbone never changes during training, so storing it in every checkpoint
(and in the EMA copy) only repeats the file it was loaded from: 1.01 B parameters,
about 4 GB, for VideoMAEv2 ViT-g. A *trainable-only* checkpoint drops the backbone's
weights from ``state_dict`` and records instead where they come from and what they
were (``meta['trainable_only']``)::

    dict(prefix='backbone.backbone.',   # state_dict keys of the dropped weights
         pretrained='checkpoints/vit_g.pth',      # as the config gave it
         pretrained_abspath='/abs/.../vit_g.pth', # resolved when saving
         sha256='...',                  # content hash of the dropped weights
         num_tensors=..., num_elements=...)

Loading re-attaches the backbone from that file and refuses it when its weights'
hash differs (:func:`reattach_frozen_backbone`). The hash covers the weights as they
sat in the model (keys, dtypes, shapes and bytes of the backbone's ``state_dict``), not
the file's bytes, so re-saving the same weights in another container still matches.

Which models qualify: see :func:`find_frozen_backbone` (a layer-tap wrapper with a
``pretrained`` file whose wrapped backbone has no parameter requiring grad). Full
fine-tuning and a randomly initialised frozen backbone keep full checkpoints.
"""
import hashlib
import os.path as osp
from typing import Mapping, NamedTuple, Optional

import torch
from mmengine.logging import MMLogger
from torch import nn

META_KEY = 'trainable_only'


class FrozenBackbone(NamedTuple):
    """The frozen part of a model whose weights come from a file.

    Attributes:
        wrapper: the layer-tap wrapper (``model.backbone``).
        module: the wrapped backbone whose ``state_dict`` is dropped / re-attached.
        prefix: the key prefix of ``module``'s weights in the model's ``state_dict``.
        pretrained: the weights file as the config gives it.
    """
    wrapper: nn.Module
    module: nn.Module
    prefix: str
    pretrained: str


def find_frozen_backbone(model: nn.Module) -> Optional[FrozenBackbone]:
    """The model's frozen, pretrained backbone, or None when checkpoints stay full.

    Qualifies: ``model.backbone`` is a layer-tap wrapper (``pretrained``, the wrapped
    ``backbone`` module, ``load_backbone_checkpoint``) with a ``pretrained`` file, and
    none of the wrapped backbone's parameters requires grad. The last condition, not
    the wrapper's ``frozen`` flag, decides: only weights that cannot have been trained
    are ever left out (the PEFT wrappers keep their learnable adapters beside the
    wrapped backbone, in ``wrapper.adapters``, so they qualify too; full or partial
    fine-tuning does not).
    """
    wrapper = getattr(model, 'backbone', None)
    module = getattr(wrapper, 'backbone', None)
    pretrained = getattr(wrapper, 'pretrained', None)
    if not isinstance(module, nn.Module) or not pretrained \
            or not hasattr(wrapper, 'load_backbone_checkpoint'):
        return None
    params = list(module.parameters())
    if not params or any(p.requires_grad for p in params):
        return None
    return FrozenBackbone(wrapper, module, 'backbone.backbone.', str(pretrained))


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the sorted keys, dtypes, shapes and raw bytes of a state dict."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key]
        if not isinstance(t, torch.Tensor):
            raise TypeError(f'state_dict_sha256: {key!r} is a {type(t).__name__}, not a '
                            'tensor')
        t = t.detach()
        h.update(f'{key}|{t.dtype}|{tuple(t.shape)}|'.encode())
        flat = t.reshape(-1).contiguous().cpu()
        if flat.numel():
            h.update(flat.view(torch.uint8).numpy())
    return h.hexdigest()


def backbone_sha256(frozen: FrozenBackbone) -> str:
    """Content hash of the backbone's weights as they are in the model."""
    return state_dict_sha256(frozen.module.state_dict())


def strip_frozen_backbone(checkpoint: dict, frozen: FrozenBackbone,
                          sha256: Optional[str] = None) -> int:
    """Drop the frozen backbone from ``checkpoint['state_dict']`` (and from an EMA
    state, should one hold it) and record its origin in ``checkpoint['meta']``.

    Args:
        checkpoint: as mmengine's ``Runner.save_checkpoint`` builds it.
        frozen: from :func:`find_frozen_backbone`.
        sha256: the backbone's hash if already known (it never changes while frozen).

    Returns:
        The number of tensor elements dropped from ``state_dict``.
    """
    own = frozen.module.state_dict()
    state = checkpoint['state_dict']
    keys = [frozen.prefix + k for k in own]
    missing = [k for k in keys if k not in state]
    if missing:
        raise KeyError(f'strip_frozen_backbone: {len(missing)} backbone keys are not in '
                       f'the checkpoint state_dict, e.g. {missing[:3]}')
    dropped = 0
    for k in keys:
        dropped += state.pop(k).numel()
    ema = checkpoint.get('ema_state_dict')
    if isinstance(ema, dict):
        for k in keys:
            ema.pop('module.' + k, None)
    checkpoint.setdefault('meta', {})[META_KEY] = dict(
        prefix=frozen.prefix, pretrained=frozen.pretrained,
        pretrained_abspath=osp.abspath(frozen.pretrained),
        sha256=sha256 or backbone_sha256(frozen), num_tensors=len(keys),
        num_elements=dropped)
    return dropped


def is_trainable_only(checkpoint: Mapping) -> bool:
    """True when ``checkpoint`` was written without its frozen backbone."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    return isinstance(meta, Mapping) and META_KEY in meta


def _candidate_files(record: dict, frozen: Optional[FrozenBackbone]) -> list:
    paths = [record.get('pretrained'), record.get('pretrained_abspath')]
    if frozen is not None:
        paths.append(frozen.pretrained)
    out = []
    for p in paths:
        if p and p not in out:
            out.append(p)
    return out


def reattach_frozen_backbone(checkpoint: dict, model: nn.Module,
                             checkpoint_name: str = 'the checkpoint') -> None:
    """Put the frozen backbone of a trainable-only checkpoint back.

    The backbone's weights are taken from the model when they already hash to the
    recorded value (a training run that loaded ``pretrained`` at start), else loaded
    from the recorded file (as given, then its absolute path when saved, then the
    current config's ``pretrained``) and checked. They are then written into
    ``checkpoint['state_dict']`` under their prefix, so that mmengine's loading (and
    any EMA hook) sees a full state dict. A full checkpoint is left untouched.

    Raises:
        FileNotFoundError: no candidate backbone file exists (names them all).
        ValueError: the file's weights hash differently from the recorded ones (names
            the checkpoint and the backbone file); or the model has no backbone that
            can load the file.
    """
    if not is_trainable_only(checkpoint):
        return
    record = dict(checkpoint['meta'][META_KEY])
    logger = MMLogger.get_current_instance()
    wrapper = getattr(model, 'backbone', None)
    module = getattr(wrapper, 'backbone', None)
    if not isinstance(module, nn.Module) or not hasattr(wrapper, 'load_backbone_checkpoint'):
        raise ValueError(f'{checkpoint_name}: a trainable-only checkpoint (frozen backbone '
                         f"from {record.get('pretrained')}) needs a model whose backbone "
                         f'wrapper loads that file; got {type(wrapper).__name__}')
    frozen = find_frozen_backbone(model)
    expected = record['sha256']
    source = None
    if getattr(wrapper, '_is_init', False) and backbone_sha256(
            FrozenBackbone(wrapper, module, record['prefix'], '')) == expected:
        source = 'the weights already in the model'
    else:
        files = _candidate_files(record, frozen)
        found = next((p for p in files if osp.exists(p)), None)
        if found is None:
            raise FileNotFoundError(
                f'{checkpoint_name}: this trainable-only checkpoint re-attaches its frozen '
                f'backbone from {record.get("pretrained")} (sha256 {expected[:16]}...), '
                f'which does not exist (tried: {", ".join(files)}); restore that file or '
                'set model.backbone.pretrained to a copy of it')
        wrapper.load_backbone_checkpoint(found)
        actual = backbone_sha256(FrozenBackbone(wrapper, module, record['prefix'], found))
        if actual != expected:
            raise ValueError(
                f'{checkpoint_name} was trained on frozen backbone weights with sha256 '
                f'{expected[:16]}... loaded from {record.get("pretrained")}, but the '
                f'backbone file {found} now holds weights with sha256 {actual[:16]}...; '
                'the backbone file changed since training. Restore the original file '
                '(or point model.backbone.pretrained to it) to use this checkpoint')
        source = found
    state = checkpoint.setdefault('state_dict', {})
    for k, v in module.state_dict().items():
        state[record['prefix'] + k] = v
    logger.info(f'{checkpoint_name}: re-attached the frozen backbone '
                f"({record.get('num_elements', 0):,} values) from {source} "
                f'(sha256 {expected[:16]}... verified)')


def load_tal_checkpoint(model: nn.Module, filename: str, map_location: str = 'cpu',
                        strict: bool = True) -> dict:
    """Load a full or trainable-only checkpoint into ``model`` outside a Runner.

    The ``state_dict`` of an mmengine checkpoint written with an EMA hook holds the
    averaged weights (mmengine swaps them in when saving), i.e. what ``tools/test.py``
    evaluates.

    ``strict`` also refuses NaN / inf values and lists every mismatch
    (:func:`~losa_plugin.engine.checkpoint_match.check_checkpoint_matches`).

    Returns:
        The checkpoint dict (its ``meta`` carries ``dataset_meta`` when saved by a
        Runner).
    """
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    checkpoint = _load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise ValueError(f"{filename}: expected an mmengine checkpoint with 'state_dict', "
                         f'got {type(checkpoint).__name__} with keys '
                         f'{sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else "-"}')
    reattach_frozen_backbone(checkpoint, model, filename)
    if strict:
        from .checkpoint_match import check_checkpoint_matches
        check_checkpoint_matches(model, checkpoint, filename)
    _load_checkpoint_to_model(model, checkpoint, strict=strict)
    return checkpoint

