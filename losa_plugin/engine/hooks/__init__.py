from .checkpoint_selection_check_hook import CheckpointSelectionCheckHook
from .data_model_check_hook import DataModelCheckHook
from .eval_progress_hook import EvalProgressHook
from .exact_resume_hook import ExactResumeHook
from .non_finite_guard_hook import NonFiniteGuardHook
from .trainable_checkpoint_hook import TrainableCheckpointHook, add_trainable_checkpoint_hook
from .trainable_ema_hook import TrainableEMAHook, trainable_view

# default_hooks key -> hook type: what configs/_base_/default_runtime.py registers and
# the tools add to configs that do not inherit it (add_plugin_hooks)
PLUGIN_HOOKS = dict(trainable_checkpoint='TrainableCheckpointHook',
                    nonfinite_guard='NonFiniteGuardHook',
                    exact_resume='ExactResumeHook',
                    data_model_check='DataModelCheckHook',
                    checkpoint_selection_check='CheckpointSelectionCheckHook')


def add_plugin_hooks(cfg) -> None:
    """Register the plugin's safety hooks in a config that lacks them (by type, in
    ``default_hooks`` or ``custom_hooks``): trainable-only checkpoints and strict
    loading, the non-finite guard, exact resume, the data / model checks
    (docs/robustness.md) and the check that no checkpoint is chosen on the test set
    (docs/evaluation.md). Configs inheriting ``configs/_base_/default_runtime.py``
    already have them; ``tools/train.py`` and ``tools/test.py`` call this for the rest."""
    hooks = list((cfg.get('default_hooks') or {}).values()) + list(cfg.get('custom_hooks') or [])
    present = {h.get('type') if isinstance(h, dict) else type(h).__name__ for h in hooks}
    present |= {getattr(t, '__name__', t) for t in present}
    if cfg.get('default_hooks') is None:
        cfg.default_hooks = {}
    for key, hook_type in PLUGIN_HOOKS.items():
        if hook_type not in present:
            cfg.default_hooks[key] = dict(type=hook_type)


__all__ = ['CheckpointSelectionCheckHook', 'DataModelCheckHook', 'EvalProgressHook',
           'ExactResumeHook', 'NonFiniteGuardHook', 'TrainableCheckpointHook',
           'TrainableEMAHook', 'add_plugin_hooks',
           'add_trainable_checkpoint_hook', 'trainable_view', 'PLUGIN_HOOKS']
