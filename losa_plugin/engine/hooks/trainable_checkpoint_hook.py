"""Trainable-only checkpoints through mmengine's checkpoint hook points.

mmengine's ``Runner.save_checkpoint`` calls every hook's ``before_save_checkpoint``
with the checkpoint dict before writing it, and ``Runner.load_checkpoint`` (used by
``load_from``, ``tools/test.py`` and ``--resume``) calls ``after_load_checkpoint``
before loading it into the model. This hook uses the two to drop a frozen, pretrained
backbone from checkpoints and to re-attach it, verified by its hash, when loading
(:mod:`losa_plugin.engine.frozen_backbone`). The optimizer and the parameter
schedulers already hold state for the trainable parameters only (a frozen parameter
never gets a gradient, so AdamW keeps no moments for it), and
:class:`~losa_plugin.engine.hooks.TrainableEMAHook` averages the trainable parameters
only, so a trainable-only checkpoint holds no backbone weight anywhere.

Loading is strict (:mod:`losa_plugin.engine.checkpoint_match`): after the backbone is
re-attached, any missing, unexpected or mis-shaped key and any NaN / inf value of the
checkpoint is an error listing them, instead of mmengine's warnings
(``strict_load=False`` keeps mmengine's partial loading, e.g. to fine-tune from a model
with another class count).

Priority ``ABOVE_NORMAL`` (40): before EMA hooks (49 / 50 in our configs) so that on
loading they already see the re-attached backbone, and on saving the averaged model's
swap only touches trainable keys.
"""
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper

from ..checkpoint_match import check_checkpoint_matches
from ..frozen_backbone import (backbone_sha256, find_frozen_backbone,
                               reattach_frozen_backbone, strip_frozen_backbone)
from .trainable_ema_hook import TrainableEMAHook


@HOOKS.register_module()
class TrainableCheckpointHook(Hook):
    """Save trainable-only checkpoints for a frozen backbone; re-attach it on load.

    Loading always re-attaches the backbone of a trainable-only checkpoint (whatever
    ``save_trainable_only`` says), so any config can read both kinds.

    Args:
        save_trainable_only (bool): drop a frozen, pretrained backbone from saved
            checkpoints. False keeps full checkpoints. Defaults to True.
        strict_load (bool): refuse a checkpoint that does not match the model exactly
            (``load_from``, ``tools/test.py``, ``--resume``). Defaults to True.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, save_trainable_only: bool = True, strict_load: bool = True) -> None:
        self.save_trainable_only = save_trainable_only
        self.strict_load = strict_load
        self._sha256: Optional[str] = None
        self._active: Optional[bool] = None

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_run(self, runner) -> None:
        self._active = None
        frozen = find_frozen_backbone(self._model(runner))
        if not (self.save_trainable_only and frozen is not None):
            self._active = False
            return
        plain_ema = [h for h in runner.hooks
                     if isinstance(h, EMAHook) and not isinstance(h, TrainableEMAHook)]
        if plain_ema:
            # its averaged model is a copy of the whole model: the backbone would come
            # back into the checkpoint through ema_state_dict and the swap
            runner.logger.warning(
                'TrainableCheckpointHook: EMAHook averages a copy of the whole model '
                '(frozen backbone included), so checkpoints stay full; use '
                "custom_hooks=[dict(type='TrainableEMAHook', ...)] for trainable-only "
                'checkpoints and EMA')
            self._active = False
            return
        self._active = True

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self._active:
            return
        frozen = find_frozen_backbone(self._model(runner))
        if frozen is None:
            return
        if self._sha256 is None:  # frozen: the hash holds for the whole run
            self._sha256 = backbone_sha256(frozen)
        dropped = strip_frozen_backbone(checkpoint, frozen, self._sha256)
        runner.logger.info(f'trainable-only checkpoint: frozen backbone ({dropped:,} '
                           f'values) left out, re-attached from {frozen.pretrained} '
                           'when loading')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        name = _checkpoint_name(runner)
        reattach_frozen_backbone(checkpoint, self._model(runner), name)
        if self.strict_load:
            check_checkpoint_matches(self._model(runner), checkpoint, name)


def _checkpoint_name(runner) -> str:
    """The file being loaded, for messages (mmengine does not pass it to hooks)."""
    name = getattr(runner, '_load_from', None)
    if name:
        return str(name)
    if getattr(runner, '_resume', False):
        from mmengine.runner.checkpoint import find_latest_checkpoint
        latest = find_latest_checkpoint(runner.work_dir)
        if latest:
            return str(latest)
    return 'the checkpoint'


def add_trainable_checkpoint_hook(cfg) -> None:
    """Make sure a config's runner registers :class:`TrainableCheckpointHook`, so that
    trainable-only checkpoints load with their backbone (the tools call this; configs
    inheriting ``configs/_base_/default_runtime.py`` already have it)."""
    hooks = list((cfg.get('default_hooks') or {}).values()) + list(cfg.get('custom_hooks') or [])
    if any(isinstance(h, dict) and h.get('type') in ('TrainableCheckpointHook',
                                                     TrainableCheckpointHook)
           or isinstance(h, TrainableCheckpointHook) for h in hooks):
        return
    if cfg.get('default_hooks') is None:
        cfg.default_hooks = {}
    cfg.default_hooks['trainable_checkpoint'] = dict(type='TrainableCheckpointHook')
