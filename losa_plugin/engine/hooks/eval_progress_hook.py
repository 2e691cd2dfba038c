"""A progress bar over the validation and test loops (the evaluation a user waits on)."""
import sys
from contextlib import ExitStack
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmaction.registry import HOOKS


@HOOKS.register_module()
class EvalProgressHook(Hook):
    """tqdm bar over the batches of each validation / test epoch, on the main process
    and only when stdout is a terminal (a log file gets mmengine's periodic lines alone).
    Log lines printed meanwhile go above the bar; after the last batch it says that the
    metric is being computed. ``tools/train.py`` and ``tools/test.py`` add it.

    Args:
        min_batches (int): no bar for loops shorter than this. Default 2.
    """

    priority = 'VERY_LOW'

    def __init__(self, min_batches: int = 2) -> None:
        self.min_batches = int(min_batches)
        self._bar = None
        self._stack: Optional[ExitStack] = None

    def _open(self, runner, dataloader, what: str) -> None:
        if not (is_main_process() and sys.stdout.isatty()):
            return
        try:
            total = len(dataloader)
        except TypeError:  # an iterable dataset has no length
            total = None
        if total is not None and total < self.min_batches:
            return
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm
        self._stack = ExitStack()
        self._stack.enter_context(logging_redirect_tqdm(loggers=[runner.logger]))
        self._bar = self._stack.enter_context(
            tqdm(total=total, desc=what, unit='batch', dynamic_ncols=True, leave=False))

    def _step(self) -> None:
        if self._bar is not None:
            self._bar.update()
            if self._bar.total is not None and self._bar.n >= self._bar.total:
                # the metric (merging windows, NMS, AP) runs after the last batch
                self._bar.set_description(f'{self._bar.desc}: computing the metric')

    def _close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._bar, self._stack = None, None

    def before_val_epoch(self, runner) -> None:
        self._open(runner, runner.val_dataloader, 'validation')

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._close()

    def before_test_epoch(self, runner) -> None:
        self._open(runner, runner.test_dataloader, 'test')

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._close()
