"""A learning-rate schedule for the synthetic pretraining that waits for the take-off.

Trained from scratch on the synthetic clips, the tiny ViT stays at chance for a number of
steps that varies widely with the seed (measured: take-off between ~900 and more than
2,000 steps of 16 clips), then learns within a few epochs. A fixed schedule either wastes
steps or decays the lr before the take-off and ends far from a plateau (a cosine decay
from step 1,500 ended one run at 25 % val top-1, chance 20 %). This hook keeps the lr
constant until the validation top-1 first reaches ``takeoff``, keeps it ``hold_epochs``
more epochs, then decays it (cosine, to ``eta_min`` times the lr) over ``decay_epochs``
epochs and stops training: the run ends on a plateau whatever its seed. If the take-off
never comes, the decay starts so as to end at the loop's ``max_epochs``.

Use it with the loop validating every epoch (``val_interval=1``) and a warm-up scheduler
only; it sets each parameter group's lr from its ``initial_lr`` (the lr multipliers of
``paramwise_cfg`` are kept).
"""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmaction.registry import HOOKS


@HOOKS.register_module()
class TakeoffLRSchedule(Hook):
    """Constant lr until take-off, ``hold_epochs`` more, then a cosine decay and stop.

    Args:
        takeoff (float): validation metric value that marks the take-off. Default 0.5.
        hold_epochs (int): epochs at the full lr after the take-off epoch. Default 6.
        decay_epochs (int): epochs of the cosine decay; training stops after them.
            Default 6.
        eta_min (float): final lr as a fraction of the lr. Default 1e-3.
        metric (str): the validation metric. Default ``'acc/top1'``.

    Attributes:
        takeoff_epoch (int | None): the epoch whose validation first reached ``takeoff``.
        decay_start (int | None): the first epoch (0-based) of the decay.
    """
    priority = 'LOW'

    def __init__(self, takeoff: float = 0.5, hold_epochs: int = 6, decay_epochs: int = 6,
                 eta_min: float = 1e-3, metric: str = 'acc/top1') -> None:
        if decay_epochs < 1 or hold_epochs < 0:
            raise ValueError(f'TakeoffLRSchedule: need decay_epochs >= 1 and hold_epochs >= 0, '
                             f'got {decay_epochs}, {hold_epochs}')
        self.takeoff = takeoff
        self.hold_epochs = hold_epochs
        self.decay_epochs = decay_epochs
        self.eta_min = eta_min
        self.metric = metric
        self.takeoff_epoch: Optional[int] = None
        self.decay_start: Optional[int] = None

    def before_train(self, runner) -> None:
        # without a take-off, decay over the loop's last epochs
        self.decay_start = max(0, runner.max_epochs - self.decay_epochs)

    def factor(self, epoch_progress: float) -> float:
        """lr factor at a (fractional, 0-based) epoch."""
        if self.decay_start is None or epoch_progress < self.decay_start:
            return 1.0
        t = min(1.0, (epoch_progress - self.decay_start) / self.decay_epochs)
        return self.eta_min + (1 - self.eta_min) * 0.5 * (1 + math.cos(math.pi * t))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.decay_start is None or runner.epoch < self.decay_start:
            return  # the warm-up scheduler, then the constant lr, are left alone
        progress = runner.epoch + batch_idx / max(len(runner.train_dataloader), 1)
        f = self.factor(progress)
        for group in runner.optim_wrapper.optimizer.param_groups:
            group['lr'] = group.get('initial_lr', group['lr']) * f

    def after_val_epoch(self, runner, metrics=None) -> None:
        value = (metrics or {}).get(self.metric)
        if self.takeoff_epoch is None and value is not None and value >= self.takeoff:
            self.takeoff_epoch = runner.epoch  # epochs done so far (1-based)
            self.decay_start = min(self.decay_start, runner.epoch + self.hold_epochs)
            runner.logger.info(f'TakeoffLRSchedule: {self.metric} {value:.3f} >= '
                               f'{self.takeoff} after epoch {runner.epoch}; full lr for '
                               f'{self.hold_epochs} more epochs, then a cosine decay over '
                               f'{self.decay_epochs}')
        if self.decay_start is not None and runner.epoch >= self.decay_start + self.decay_epochs:
            runner.train_loop.stop_training = True
