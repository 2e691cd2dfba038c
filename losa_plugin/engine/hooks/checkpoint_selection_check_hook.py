"""No checkpoint chosen on the test set.

``CheckpointHook(save_best=...)`` keeps the checkpoint with the best validation metric.
When the validation evaluator scores test videos (THUMOS-14 is usually validated on its
``Test`` subset, ActivityNet-v1.3 on ``validation``, its test split), ``best_*.pth`` is
a test-set selection and a number reported from it is not the published protocol's
(ActionFormer reports the last epoch). This hook compares, before the first step, the
videos the validation evaluator scores with those of the test evaluator
(``test_evaluator`` of the config) and refuses ``save_best`` when they share any; without
a test evaluator, a validation subset named ``test`` / ``testing`` counts as the test
set. ``save_best`` on a held-out part of the training videos is fine
(docs/evaluation.md, "Which checkpoint").
"""
from typing import List, Optional, Sequence, Set, Tuple

from mmaction.registry import HOOKS
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import MMLogger
from mmengine.runner import BaseLoop

from losa_plugin.datasets.tal_annotation import subset_video_ids
from losa_plugin.datasets.video_files import join_root, read_video_list

_TEST_NAMES = ('test', 'testing')


def _as_list(cfg) -> list:
    if cfg is None:
        return []
    return list(cfg) if isinstance(cfg, (list, tuple)) else [cfg]


def evaluator_videos(cfg: dict) -> Optional[Set[str]]:
    """Videos a ``TALMetric`` config scores (its subset, minus ``block_list``, within
    ``video_ids``), or None for another metric."""
    if 'TALMetric' not in str(cfg.get('type', '')):
        return None
    root = cfg.get('data_root', '') or ''
    ids = set(subset_video_ids(join_root(cfg['ann_file'], root), cfg['subset']))
    ids -= read_video_list(cfg.get('block_list'), root, 'block_list')
    if cfg.get('video_ids') is not None:
        ids &= read_video_list(cfg['video_ids'], root, 'video_ids')
    return ids


def _metric_videos(metric) -> Optional[Set[str]]:
    ground_truth = getattr(metric, 'ground_truth', None)
    if ground_truth is None:
        return None
    return {v['video_id'] for v in ground_truth}


def shared_test_videos(val_metrics: Sequence, test_cfgs: Sequence[dict],
                 val_cfgs: Sequence[dict] = ()) -> Tuple[int, str]:
    """(number of test videos the validation evaluator scores, a description).

    Args:
        val_metrics: the built validation metrics (``TALMetric`` hold their ground
            truth).
        test_cfgs: the test evaluator configs.
        val_cfgs: the validation evaluator configs, compared as configs when a metric
            is not a ``TALMetric``.
    """
    test_ids: Set[str] = set()
    for cfg in test_cfgs:
        test_ids |= evaluator_videos(cfg) or set()
    val_ids: Set[str] = set()
    for metric in val_metrics:
        val_ids |= _metric_videos(metric) or set()
    if test_ids and val_ids:
        shared = val_ids & test_ids
        where = ', '.join(f"{c.get('ann_file')} [{c.get('subset')}]" for c in test_cfgs)
        return len(shared), f'{len(shared)} of its {len(val_ids)} videos are test videos ({where})'
    if test_cfgs and val_cfgs and list(val_cfgs) == list(test_cfgs):
        return 1, 'val_evaluator equals test_evaluator'
    named = [m.subset for m in val_metrics if isinstance(getattr(m, 'subset', None), str)
             and m.subset.lower() in _TEST_NAMES]
    if not test_cfgs and named:
        return 1, f'it evaluates the subset {named[0]!r}'
    return 0, ''


@HOOKS.register_module()
class CheckpointSelectionCheckHook(Hook):
    """Refuse (or warn about) ``save_best`` on a validation evaluator that scores test
    videos; see the module docstring.

    Args:
        on_test_split (str): ``'error'`` (default: ``ValueError`` before the first step)
            or ``'warn'`` (a warning at the start and at every validation).
    """

    priority = 'VERY_HIGH'

    def __init__(self, on_test_split: str = 'error') -> None:
        if on_test_split not in ('error', 'warn'):
            raise ValueError(f"on_test_split must be 'error' or 'warn', got {on_test_split!r}")
        self.on_test_split = on_test_split
        self._message: Optional[str] = None

    @staticmethod
    def _save_best(runner) -> List[str]:
        return [m for h in runner.hooks if isinstance(h, CheckpointHook)
                for m in (h.save_best or [])]

    def before_train(self, runner) -> None:
        save_best = self._save_best(runner)
        loop = runner.val_loop
        if not save_best or not isinstance(loop, BaseLoop):
            return
        cfg = runner.cfg
        shared, why = shared_test_videos(loop.evaluator.metrics,
                                         _as_list(cfg.get('test_evaluator')),
                                         _as_list(cfg.get('val_evaluator')))
        if not shared:
            return
        self._message = (
            f'default_hooks.checkpoint.save_best={save_best} selects the checkpoint on the '
            f'validation evaluator, but {why}: best_*.pth would be a test-set selection. '
            'Keep save_best=None (the last epoch, as ActionFormer reports) or validate on '
            'a held-out part of the training videos (docs/evaluation.md, "Which '
            'checkpoint")')
        if self.on_test_split == 'error':
            raise ValueError(self._message)
        MMLogger.get_current_instance().warning(self._message)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._message:
            MMLogger.get_current_instance().warning(self._message)
