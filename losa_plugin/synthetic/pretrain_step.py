"""The benchmark's pretraining step of one regime: a shipped backbone or a pretraining run.

:func:`plan_pretraining` decides, before any task runs, whether a regime loads the
shipped backbone of exactly its pretraining (:mod:`shipped_backbones`) or pretrains;
:func:`pretrain_task_fn` gives the task's work either way. The regime's TAL runs only see
``ckpts[regime]`` (the checkpoint they load) and ``pretrain_results[regime]`` (the curve
that goes to ``results.json``).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from mmengine.logging import MMLogger

from . import benchmark_steps as steps
from .regimes import Regime
from .shipped_backbones import (compare_with_shipped, export_backbone, find_shipped,
                                key_fields, pretrain_key, shipped_meta)


@dataclass
class PretrainPlan:
    """How one regime gets its backbone.

    Attributes:
        spec (dict): the pretraining run's spec (:func:`benchmark_steps.pretrain_spec`).
        fields (dict): what decides its weights (:func:`shipped_backbones.key_fields`).
        key (str): their hash.
        shipped (str, optional): the shipped backbone of this key, if any.
        train (bool): pretrain here (no shipped file, or ``--pretrain``).
    """
    spec: Dict
    fields: Dict
    key: str
    shipped: Optional[str]
    train: bool


def plan_pretraining(regime: Regime, spec: Dict, num_per_class: int, data_seed: int,
                     force: bool = False, shipped_root: Optional[str] = None) -> PretrainPlan:
    """Shipped backbone or pretraining run for ``regime`` (``force``: always pretrain)."""
    fields = key_fields(regime, spec, num_per_class, data_seed)
    key = pretrain_key(fields)
    shipped = find_shipped(regime.name, key, **({'root': shipped_root} if shipped_root else {}))
    return PretrainPlan(spec, fields, key, shipped, train=force or shipped is None)


def pretrain_info(result: Dict, regime: Regime, ckpt: str) -> Dict:
    """The curve and times of a pretraining run's result (what ``results.json`` keeps)."""
    curve = [h['acc/top1'] for h in result.get('val_history', []) if 'acc/top1' in h]
    pre_classes = regime.pretrain_val_classes or regime.class_sets()[0]
    takeoff = next((i + 1 for i, a in enumerate(curve) if a >= 0.5), None)
    return dict(val_top1=curve, epochs=[h['epoch'] for h in result.get('val_history', [])
                                        if 'acc/top1' in h],
                final_val_top1=curve[-1] if curve else None, takeoff_epoch=takeoff,
                last5_range=(max(curve[-5:]) - min(curve[-5:])) if len(curve) >= 5 else None,
                num_classes=len(pre_classes), classes=list(pre_classes), checkpoint=ckpt,
                train_time_s=result.get('train_time_s'), cpu_time_s=result.get('cpu_time_s'))


def pretrain_task_fn(regime: Regime, plan: PretrainPlan, ckpts: Dict[str, str],
                     pretrain_results: Dict[str, Dict], log_done: Callable[[str, Dict], None],
                     logger: MMLogger, ship: bool = False,
                     quiet: bool = False) -> Callable[[], Dict]:
    """The work of the ``<regime>/pretrain`` task. Fills ``ckpts[regime.name]`` and
    ``pretrain_results[regime.name]``; with ``ship``, writes the trained backbone to the
    shipped folder; with ``quiet``, the pretraining process's output goes to
    ``console.log`` in its work dir instead of the console."""
    rname, spec = regime.name, plan.spec

    def load_shipped() -> Dict:
        meta = shipped_meta(plan.shipped)
        ckpts[rname] = plan.shipped
        pretrain_results[rname] = dict(meta['pretrain'], checkpoint=plan.shipped,
                                       source='shipped', key=plan.key)
        logger.info(f'{rname}/pretrain: shipped backbone {osp.relpath(plan.shipped)} (made by '
                    f'exactly this pretraining, key {plan.key}; --pretrain to redo it), val '
                    f'top-1 per epoch {[round(100 * a, 1) for a in meta["pretrain"]["val_top1"]]}')
        result = dict(cpu_time_s=0.0)
        log_done(f'{rname}/pretrain', result)
        return result

    def train() -> Dict:
        spec_file = osp.join(spec['work_dir'], 'spec.json')
        result = steps.finished_run(spec, spec_file, osp.join(spec['work_dir'], 'last_checkpoint'))
        if result is None or steps.last_checkpoint(spec['work_dir']) is None:
            logger.info(f'{rname}/pretrain: at most {spec["overrides"]["train_cfg.max_epochs"]} '
                        f'epochs -> {spec["work_dir"]}')
            result = steps.run_in_subprocess(
                spec, spec_file, log_file=steps.console_log_path(spec) if quiet else None)
        else:
            logger.info(f'{rname}/pretrain: {spec["work_dir"]} has the checkpoint, not retrained')
        ckpt = steps.last_checkpoint(spec['work_dir'])
        if ckpt is None:
            raise RuntimeError(f'pretrain: no checkpoint in {spec["work_dir"]} after training')
        ckpts[rname] = ckpt
        info = pretrain_info(result, regime, ckpt)
        info.update(source='pretrained here', key=plan.key)
        if plan.shipped is not None:
            info['shipped_match'] = compare_with_shipped(ckpt, plan.shipped)
            logger.info(f'{rname}/pretrain: the shipped backbone of this pretraining is '
                        + ('reproduced bit for bit' if info['shipped_match']['equal'] else
                           f'not reproduced (largest weight difference '
                           f'{info["shipped_match"]["max_abs_diff"]:.3g})'))
        if ship:
            path = export_backbone(ckpt, plan.fields, info)
            info['shipped_to'] = path
            logger.info(f'{rname}/pretrain: backbone shipped to {path}')
        pretrain_results[rname] = info
        logger.info(f'{rname}/pretrain: val top-1 per epoch '
                    f'{[round(100 * a, 1) for a in info["val_top1"]]}')
        log_done(f'{rname}/pretrain', result)
        return result

    return train if plan.train else load_shipped
