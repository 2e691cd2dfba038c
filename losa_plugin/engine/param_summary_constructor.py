"""mmengine's default optimizer-wrapper constructor, with one summary line instead of a
log line per parameter.

With a ``paramwise_cfg``, mmengine's :class:`DefaultOptimWrapperConstructor` logs a
warning for every frozen parameter it leaves out ("... is skipped since its
requires_grad=False": hundreds for a frozen ViT-g) and an INFO line for every option of
every parameter it places in a group. :class:`ParamSummaryOptimWrapperConstructor` builds
exactly the same optimizer and says once how many frozen parameters were left out and
which options how many parameters got; the per-parameter lines go to DEBUG (shown with
``log_level='DEBUG'``).
"""
import logging
import re
from typing import Dict, List, Tuple

import torch
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS

_SKIPPED = re.compile(r'^(?P<name>\S+) is skipped since its requires_grad=False$')
_OPTION = re.compile(r'^paramwise_options -- (?P<name>[^:]+):(?P<key>[^=]+)=(?P<value>.*)$')


class _ParamLogCollector(logging.Filter):
    """Takes mmengine's per-parameter lines out of the log (demoted to DEBUG) and
    remembers them."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: List[str] = []
        self.options: Dict[str, List[Tuple[str, str]]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        skipped, option = _SKIPPED.match(msg), _OPTION.match(msg)
        if skipped:
            self.skipped.append(skipped['name'])
        elif option:
            self.options.setdefault(option['name'], []).append((option['key'],
                                                                option['value']))
        else:
            return True
        record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
        return True


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ParamSummaryOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """:class:`DefaultOptimWrapperConstructor` (same arguments, same optimizer) whose log
    says once what it did with the parameters:

    ``optimizer: 5,634,176 learnable parameters in 38 tensors; 1,010,000,000 frozen
    parameters in 520 tensors left out (requires_grad=False)`` and
    ``paramwise options: 24 tensors weight_decay=0.0 (neck.proj.bias, ...); 2 tensors
    lr=0.01, ... (neck.fusion.gates_short, neck.fusion.gates_long)``.
    """

    def __call__(self, model: torch.nn.Module) -> OptimWrapper:
        logger = MMLogger.get_current_instance()
        collector = _ParamLogCollector()
        logger.addFilter(collector)
        try:
            wrapper = super().__call__(model)
        finally:
            logger.removeFilter(collector)
        for line in summarize_params(getattr(model, 'module', model), collector.skipped,
                                     collector.options):
            logger.info(line)
        return wrapper


def summarize_params(model: torch.nn.Module, skipped: List[str],
                     options: Dict[str, List[Tuple[str, str]]]) -> List[str]:
    """The summary lines: learnable and frozen parameter counts (and whether the frozen
    ones were left out of the optimizer), then the tensors per distinct set of options."""
    params = list(model.parameters())
    learnable = [p for p in params if p.requires_grad]
    frozen = [p for p in params if not p.requires_grad]
    line = (f'optimizer: {sum(p.numel() for p in learnable):,} learnable parameters in '
            f'{len(learnable)} tensors')
    if frozen:
        line += (f'; {sum(p.numel() for p in frozen):,} frozen parameters in {len(frozen)} '
                 'tensors ' + ('left out (requires_grad=False)' if skipped else
                               'passed along with no gradient (requires_grad=False)'))
    lines = [line]
    if options:
        groups: Dict[str, List[str]] = {}
        for name, opts in options.items():
            groups.setdefault(', '.join(f'{k}={v}' for k, v in opts), []).append(name)
        parts = []
        for opts, names in sorted(groups.items(), key=lambda g: -len(g[1])):
            example = ', '.join(names[:2]) + (', ...' if len(names) > 2 else '')
            parts.append(f'{len(names)} tensors {opts} ({example})')
        lines.append('paramwise options: ' + '; '.join(parts))
    return lines


def use_param_summary_constructor(cfg) -> None:
    """Make ``cfg``'s optimizer wrapper log the parameter summary: set
    :class:`ParamSummaryOptimWrapperConstructor` where the config leaves the constructor
    at mmengine's default (a config naming another constructor keeps it)."""
    optim = cfg.get('optim_wrapper')
    if not optim or 'optimizer' not in optim:
        return
    if optim.get('constructor', 'DefaultOptimWrapperConstructor') in (
            'DefaultOptimWrapperConstructor', DefaultOptimWrapperConstructor):
        optim['constructor'] = 'ParamSummaryOptimWrapperConstructor'
