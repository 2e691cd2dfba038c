from .trainable_checkpoint_hook import TrainableCheckpointHook, add_trainable_checkpoint_hook
from .trainable_ema_hook import TrainableEMAHook, trainable_view

__all__ = ['TrainableCheckpointHook', 'TrainableEMAHook', 'add_trainable_checkpoint_hook',
           'trainable_view']
