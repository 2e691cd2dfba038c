"""A linear learning-rate ramp computed in closed form, so that it may start at 0."""
from mmengine.optim.scheduler import LinearLR
from mmaction.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class ClosedFormLinearLR(LinearLR):
    """mmengine's :class:`LinearLR` evaluated from each group's initial lr instead of
    chained from the previous step's, so ``start_factor=0`` works (the chained form
    multiplies 0 and divides by ``total_iters * start_factor``).

    At scheduler step ``k`` of ``[begin, end)`` the lr is
    ``initial_lr * (start_factor + (end_factor - start_factor) * k / (end - begin - 1))``:
    with ``start_factor=0`` this is ActionFormer's ``LinearWarmupCosineAnnealingLR``
    warm-up (``warmup_start_lr=0``, ``base_lr * k / (warmup_steps - 1)``). Group lr
    multipliers are kept (they are part of ``initial_lr``); another scheduler acting on
    the same steps is overridden rather than composed.

    Args: as :class:`mmengine.optim.scheduler.LinearLR`.
    """

    def _get_value(self) -> list:
        steps = max(self.total_iters, 1)
        t = min(self.last_step, steps)
        factor = self.start_factor + (self.end_factor - self.start_factor) * t / steps
        return [base * factor for base in self.base_values]
