"""Stop (or skip) a training step whose loss or gradients are not finite.

Without it one NaN ruins a run silently: the loss logs ``nan``, gradient clipping turns
a single non-finite gradient into an all-NaN one (the total norm is NaN, so is the
clipping factor), AdamW writes NaN into every weight, each later checkpoint (the best
one too) is all-NaN, and the run exits 0.

How: mmengine's ``OptimWrapper.step`` clips, then calls the torch optimizer's
``step``. The hook registers a torch *step pre-hook* on the optimizer(s) (the one point
every optimizer wrapper, gradient accumulation and DDP pass through, after the
gradients are all-reduced, so every rank decides alike): when a gradient is not finite
it raises before any weight changes (``action='raise'``, default) or drops the
gradients so the step changes nothing (``action='skip'``; the layers' running buffers
are put back too, and the skip is counted and logged). The loss values are checked
after each iteration. Checkpoints are refused when their trained weights are not
finite, whatever caused it.

Errors name the epoch, the iteration, the samples of the batch (video id and window)
and the parameters or losses concerned. Non-finite input features are refused earlier,
by file, when they are loaded (``LoadTALFeature``).
"""
import math
from typing import Dict, List, Optional

import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapperDict

from ..frozen_backbone import find_frozen_backbone

_SHOW = 5  # names listed in a message


def describe_batch(data_batch) -> str:
    """``video_id [window at s]`` of every sample of a batch (for messages)."""
    samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
    if not samples:
        return 'unknown samples'
    out = []
    for s in samples:
        meta = getattr(s, 'metainfo', {}) or {}
        vid = meta.get('video_id', '?')
        fps, offset = meta.get('fps'), meta.get('window_offset')
        where = f' [window at {float(offset) / float(fps):.2f} s]' \
            if fps and offset is not None else ''
        out.append(f'{vid}{where}')
    return ', '.join(out)


def non_finite_keys(state: Dict[str, torch.Tensor], skip_prefix: Optional[str] = None
                    ) -> List[str]:
    """Keys of floating-point tensors of ``state`` holding a NaN or an infinity."""
    bad = []
    for key, value in state.items():
        if skip_prefix and key.startswith(skip_prefix):
            continue
        if isinstance(value, torch.Tensor) and value.is_floating_point() \
                and not bool(torch.isfinite(value).all()):
            bad.append(key)
    return bad


def _shown(names: List[str]) -> str:
    more = f' and {len(names) - _SHOW} more' if len(names) > _SHOW else ''
    return ', '.join(names[:_SHOW]) + more


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Guard training against non-finite losses, gradients and checkpoints.

    Args:
        action (str): ``'raise'`` (default): ``FloatingPointError`` before the step.
            ``'skip'``: the step is skipped (gradients dropped, running buffers
            restored), counted (``train/nonfinite_skipped`` in the log) and warned about;
            more than ``max_skipped`` skips in a row raise. Skipping rides over a rare
            spike but hides a data bug that recurs every epoch, so raising is the
            default.
        max_skipped (int): consecutive skips tolerated with ``action='skip'``, and
            consecutive non-finite losses under AMP (whose loss scaler skips such
            steps by design). Default 20.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'raise', max_skipped: int = 20) -> None:
        if action not in ('raise', 'skip'):
            raise ValueError(f"NonFiniteGuardHook: action must be 'raise' or 'skip', got "
                             f'{action!r}')
        self.action = action
        self.max_skipped = int(max_skipped)
        self._handles: list = []
        self._names: Dict[int, str] = {}
        self._where = ''
        self._batch = ''
        self._skipped_now = False
        self._in_a_row = 0
        self._total = 0
        self._buffers: Dict[str, torch.Tensor] = {}

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        self._names = {id(p): n for n, p in self._model(runner).named_parameters()}
        wrapper = runner.optim_wrapper
        wrappers = list(wrapper.values()) if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        self._amp = any(isinstance(w, AmpOptimWrapper) for w in wrappers)
        for w in wrappers:
            self._handles.append(w.optimizer.register_step_pre_hook(self._before_step))

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._where = f'epoch {runner.epoch + 1}, iteration {runner.iter + 1}'
        self._batch = describe_batch(data_batch)
        self._skipped_now = False
        if self.action == 'skip':
            # a forward in train mode may update running statistics with NaN
            self._buffers = {k: v.detach().clone() for k, v in
                             self._model(runner).named_buffers() if v.is_floating_point()}

    def _before_step(self, optimizer, args, kwargs) -> None:
        params = [p for g in optimizer.param_groups for p in g['params'] if p.grad is not None]
        if not params:
            return
        finite = torch.stack([torch.isfinite(p.grad).all() for p in params])
        if bool(finite.all()):
            return
        bad = [self._names.get(id(p), '?') for p, ok in zip(params, finite.tolist()) if not ok]
        msg = (f'non-finite gradient at {self._where} (batch: {self._batch}) in '
               f'{len(bad)} of {len(params)} parameters: {_shown(bad)}')
        if self.action == 'raise':
            raise FloatingPointError(
                msg + '. No weight was changed; the last checkpoint is finite. With '
                'clip_grad every gradient turns NaN once one is (the norm is NaN). '
                "NonFiniteGuardHook(action='skip') skips such steps instead")
        for p in params:
            p.grad = None  # the optimizer skips parameters without a gradient
        self._skipped_now = True
        self._msg = msg

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        losses = {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
                  for k, v in (outputs or {}).items()
                  if 'loss' in k and isinstance(v, (int, float, torch.Tensor))
                  and (not isinstance(v, torch.Tensor) or v.numel() == 1)}
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad and not self._skipped_now:
            msg = f'non-finite loss at {self._where} (batch: {self._batch}): {bad}'
            if self._amp:  # the loss scaler has skipped this step
                self._skipped_now, self._msg = True, msg
            elif self.action == 'raise':
                raise FloatingPointError(msg)
            else:
                self._skipped_now, self._msg = True, msg
        if not self._skipped_now:
            self._in_a_row = 0
            return
        if self.action == 'skip' and self._buffers:
            model_buffers = dict(self._model(runner).named_buffers())
            for k, v in self._buffers.items():
                model_buffers[k].data.copy_(v)
        self._in_a_row += 1
        self._total += 1
        runner.message_hub.update_scalar('train/nonfinite_skipped', self._total)
        runner.logger.warning(f'NonFiniteGuardHook: step skipped ({self._in_a_row} in a '
                              f'row, {self._total} in all): {self._msg}')
        if self._in_a_row > self.max_skipped:
            raise FloatingPointError(f'{self._in_a_row} consecutive training steps with '
                                     f'non-finite values (max_skipped={self.max_skipped}); '
                                     f'the last: {self._msg}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        frozen = find_frozen_backbone(self._model(runner))
        skip = frozen.prefix if frozen is not None else None  # never trained
        for key in ('state_dict', 'ema_state_dict'):
            state = checkpoint.get(key)
            if not isinstance(state, dict):
                continue
            bad = non_finite_keys(state, skip if key == 'state_dict' else
                                  (None if skip is None else 'module.' + skip))
            if bad:
                raise FloatingPointError(
                    f'refusing to write a checkpoint at epoch {runner.epoch}, iteration '
                    f'{runner.iter}: {key} has non-finite values in {len(bad)} tensors: '
                    f'{_shown(bad)}')
