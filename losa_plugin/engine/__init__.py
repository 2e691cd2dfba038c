"""Training-loop pieces on mmengine's hook points: trainable-only checkpoints and an EMA
of the trainable parameters only (docs/checkpoints.md); a closed-form linear warm-up
that can start at lr 0 (ActionFormer's schedule)."""
from .closed_form_linear_lr import ClosedFormLinearLR
from .frozen_backbone import (find_frozen_backbone, is_trainable_only, load_tal_checkpoint,
                              reattach_frozen_backbone, state_dict_sha256,
                              strip_frozen_backbone)
from .hooks import (TrainableCheckpointHook, TrainableEMAHook,
                    add_trainable_checkpoint_hook, trainable_view)

__all__ = ['ClosedFormLinearLR', 'find_frozen_backbone', 'is_trainable_only', 'load_tal_checkpoint',
           'reattach_frozen_backbone', 'state_dict_sha256', 'strip_frozen_backbone',
           'TrainableCheckpointHook', 'TrainableEMAHook', 'add_trainable_checkpoint_hook',
           'trainable_view']
