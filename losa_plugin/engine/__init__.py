"""Training-loop pieces on mmengine's hook points: trainable-only checkpoints and an EMA
of the trainable parameters only (docs/checkpoints.md); a closed-form linear warm-up
that can start at lr 0 (ActionFormer's schedule); the safety hooks of
docs/robustness.md (non-finite guard, exact resume with per-sample seeds, strict
checkpoint loading, data / model checks)."""
from .checkpoint_match import check_checkpoint_matches
from .closed_form_linear_lr import ClosedFormLinearLR
from .frozen_backbone import (find_frozen_backbone, is_trainable_only, load_tal_checkpoint,
                              reattach_frozen_backbone, state_dict_sha256,
                              strip_frozen_backbone)
from .hooks import (CheckpointSelectionCheckHook, DataModelCheckHook, EvalProgressHook,
                    ExactResumeHook, NonFiniteGuardHook, TrainableCheckpointHook,
                    TrainableEMAHook, add_plugin_hooks, add_trainable_checkpoint_hook,
                    trainable_view)
from .param_summary_constructor import (ParamSummaryOptimWrapperConstructor,
                                        use_param_summary_constructor)
from .sample_seed import SeededIndex, SeededSampler, sample_seed, seeded_random_states

__all__ = ['ClosedFormLinearLR', 'find_frozen_backbone', 'is_trainable_only', 'load_tal_checkpoint',
           'reattach_frozen_backbone', 'state_dict_sha256', 'strip_frozen_backbone',
           'TrainableCheckpointHook', 'TrainableEMAHook', 'add_trainable_checkpoint_hook',
           'trainable_view', 'check_checkpoint_matches', 'CheckpointSelectionCheckHook',
           'DataModelCheckHook',
           'ExactResumeHook', 'NonFiniteGuardHook', 'add_plugin_hooks', 'SeededIndex',
           'SeededSampler', 'sample_seed', 'seeded_random_states', 'EvalProgressHook',
           'ParamSummaryOptimWrapperConstructor', 'use_param_summary_constructor']
