"""An EMA hook that averages the trainable part of the model only.

mmengine's ``EMAHook`` builds its averaged model from a deep copy of the *whole* model
and updates every floating-point tensor of it each step. With a frozen backbone that
copy is pure cost: for VideoMAEv2 ViT-g another 1.01 B fp32 parameters (about 4 GB of
accelerator memory), averaged every step although they never change, and saved again
in every checkpoint's ``ema_state_dict``.

:class:`TrainableEMAHook` gives the averaged model (any of mmengine's: ``ema_type``
as in ``EMAHook``) a *view* of the model instead: the same module tree in which every
frozen sub-module (one holding parameters, none of which requires grad) is replaced
by an empty placeholder, and every other parameter and buffer is the model's own
tensor (shared, not copied). The averaged model deep-copies that view, so it holds
exactly the trainable parameters (and, with ``update_buffers=True``, the buffers of the
trainable modules) under the model's own key names; everything else of ``EMAHook``
(the update rule, swapping the averaged weights in for validation / test, saving them
as the checkpoint's ``state_dict`` and the raw ones as ``ema_state_dict``, resuming)
runs unchanged on that view. With nothing frozen (full fine-tuning) the view is the
whole model and the hook behaves as ``EMAHook``.
"""
import copy
from typing import Dict

from mmaction.registry import HOOKS
from mmengine.hooks import EMAHook
from mmengine.model import is_model_wrapper
from mmengine.registry import MODELS
from torch import nn


class FrozenPlaceholder(nn.Module):
    """Stands in for a frozen sub-module in the EMA view (holds nothing)."""

    def __init__(self, name: str, num_params: int) -> None:
        super().__init__()
        self.replaced = name
        self.num_params = num_params

    def extra_repr(self) -> str:
        return f'frozen {self.replaced!r}: {self.num_params:,} parameters not averaged'


def _frozen_modules(model: nn.Module) -> Dict[str, nn.Module]:
    """The outermost sub-modules that hold parameters, none requiring grad."""
    found: Dict[str, nn.Module] = {}

    def visit(prefix: str, module: nn.Module) -> None:
        params = list(module.parameters())
        if prefix and params and not any(p.requires_grad for p in params):
            found[prefix] = module
            return
        for name, child in module.named_children():
            visit(f'{prefix}.{name}' if prefix else name, child)

    visit('', model)
    return found


def trainable_view(model: nn.Module) -> nn.Module:
    """The module tree of ``model`` with frozen sub-modules replaced by
    :class:`FrozenPlaceholder` and every other parameter and buffer shared with
    ``model`` (no tensor is copied)."""
    memo: dict = {}
    for name, module in _frozen_modules(model).items():
        memo[id(module)] = FrozenPlaceholder(name, sum(p.numel() for p in module.parameters()))
    for t in list(model.parameters()) + list(model.buffers()):
        memo.setdefault(id(t), t)
    return copy.deepcopy(model, memo)


@HOOKS.register_module()
class TrainableEMAHook(EMAHook):
    """``EMAHook`` over the trainable parameters only (see the module docstring).

    Args: as :class:`mmengine.hooks.EMAHook` (``ema_type``, ``momentum``,
    ``update_buffers``, ``begin_iter`` / ``begin_epoch``, ...), except that
    ``strict_load`` defaults to True: a resumed ``ema_state_dict`` that misses keys,
    has extra ones or other shapes is an error (the model's own weights are checked by
    ``TrainableCheckpointHook``).
    """

    def __init__(self, *args, strict_load: bool = True, **kwargs) -> None:
        super().__init__(*args, strict_load=strict_load, **kwargs)

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        # EMAHook reads and writes the model only through ``src_model``: give it the view
        self.src_model = trainable_view(model)
        self.ema_model = MODELS.build(self.ema_cfg, default_args=dict(model=self.src_model))
        frozen = _frozen_modules(model)
        if frozen:
            n_frozen = sum(p.numel() for m in frozen.values() for p in m.parameters())
            n_avg = sum(t.numel() for t in self.ema_model.avg_parameters.values())
            runner.logger.info(f'TrainableEMAHook: averaging {n_avg:,} values; frozen '
                               f'{", ".join(frozen)} ({n_frozen:,} parameters) left out')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'ema_state_dict' in checkpoint and runner._resume:
            super().after_load_checkpoint(runner, checkpoint)
            return
        # EMAHook deep-copies the whole state_dict here; copy only what the EMA holds
        own = self.ema_model.module.state_dict()
        state = checkpoint['state_dict']
        subset = {k: state[k] for k in own if k in state}
        super().after_load_checkpoint(runner, dict(checkpoint, state_dict=subset))
