"""What tools/train.py and tools/test.py print: one summary of the optimizer's parameters
instead of a log line per frozen parameter (the same optimizer), and a progress bar over
evaluation on a terminal."""
import io
import logging
import os.path as osp
import sys
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmaction.registry import MODELS

from losa_plugin.engine import EvalProgressHook, use_param_summary_constructor

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
LOSA = osp.join(ROOT, 'configs', 'synthetic', 'losa_vit-tiny_synthetic.py')


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record) -> None:
        self.records.append(record)

    def at(self, level):
        return [r.getMessage() for r in self.records if r.levelno >= level]


def _model_and_cfg():
    init_default_scope('mmaction')
    cfg = Config.fromfile(LOSA)
    cfg.model.backbone.pretrained = None
    return MODELS.build(cfg.model), cfg


def test_one_summary_instead_of_a_line_per_parameter_and_the_same_optimizer():
    model, cfg = _model_and_cfg()
    logger = MMLogger.get_instance('param_summary', log_level='INFO')
    records = Records()
    logger.addHandler(records)
    default = build_optim_wrapper(model, cfg.optim_wrapper.copy())
    plain = len(records.records)
    use_param_summary_constructor(cfg)
    assert cfg.optim_wrapper.constructor == 'ParamSummaryOptimWrapperConstructor'
    summary = build_optim_wrapper(model, cfg.optim_wrapper.copy())
    # the same groups, in the same order, with the same options
    for a, b in zip(default.optimizer.param_groups, summary.optimizer.param_groups,
                    strict=True):
        assert [id(p) for p in a['params']] == [id(p) for p in b['params']]
        assert {k: v for k, v in a.items() if k != 'params'} == \
            {k: v for k, v in b.items() if k != 'params'}
    frozen = [p for p in model.parameters() if not p.requires_grad]
    learnable = [p for p in model.parameters() if p.requires_grad]
    assert len(frozen) > 20  # the frozen ViT: mmengine warns once per tensor
    ours = [r for r in records.records[plain:]]
    warned = [r.getMessage() for r in records.records[:plain]
              if 'is skipped since its requires_grad=False' in r.getMessage()]
    assert len(warned) == len(frozen)
    shown = [r.getMessage() for r in ours if r.levelno >= logging.INFO]
    assert not [m for m in shown if 'is skipped' in m or m.startswith('paramwise_options')]
    assert shown[0] == (
        f'optimizer: {sum(p.numel() for p in learnable):,} learnable parameters in '
        f'{len(learnable)} tensors; {sum(p.numel() for p in frozen):,} frozen parameters '
        f'in {len(frozen)} tensors left out (requires_grad=False)')
    # the gates learn at 10x the base lr 1e-3, without weight decay
    assert ('2 tensors lr=0.01, weight_decay=0.0, decay_mult=0.0, lr_mult=10.0 '
            '(neck.fusion.gates_short, neck.fusion.gates_long)') in shown[1]
    assert len(shown) == 2
    # the per-parameter lines are still there, at DEBUG (log_level='DEBUG' shows them)
    debug = [r.getMessage() for r in ours if r.levelno == logging.DEBUG]
    assert len([m for m in debug if 'is skipped' in m]) == len(frozen)
    assert len([m for m in debug if m.startswith('paramwise_options')]) > len(learnable) // 2
    logger.removeHandler(records)


def test_the_summary_constructor_is_set_only_over_the_default():
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3))))
    use_param_summary_constructor(cfg)
    assert cfg.optim_wrapper.constructor == 'ParamSummaryOptimWrapperConstructor'
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3),
                                         constructor='LearningRateDecayOptimizerConstructor')))
    use_param_summary_constructor(cfg)
    assert cfg.optim_wrapper.constructor == 'LearningRateDecayOptimizerConstructor'
    cfg = Config(dict(model=dict(type='X')))
    use_param_summary_constructor(cfg)
    assert 'optim_wrapper' not in cfg


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize('tty', [True, False])
def test_eval_progress_bar_counts_batches_on_a_terminal_only(monkeypatch, tty):
    stream = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, 'stdout', stream)
    monkeypatch.setattr(sys, 'stderr', stream)
    logger = MMLogger.get_instance(f'eval_progress_{tty}', log_level='INFO')
    runner = SimpleNamespace(test_dataloader=[0, 1, 2], val_dataloader=[0], logger=logger)
    hook = EvalProgressHook()
    hook.before_test_epoch(runner)
    for i in range(3):
        hook.after_test_iter(runner, i)
    hook.after_test_epoch(runner, {})
    hook.before_val_epoch(runner)  # one batch: below min_batches, no bar
    hook.after_val_iter(runner, 0)
    hook.after_val_epoch(runner, {})
    out = stream.getvalue()
    if tty:
        assert '0/3' in out and '3/3' in out and 'test: computing the metric' in out
        assert 'validation' not in out
    else:
        assert out == ''
