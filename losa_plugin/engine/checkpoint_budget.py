"""What a checkpoint and the EMA cost, with and without the frozen backbone.

    python -m losa_plugin.engine.checkpoint_budget CONFIG [CONFIG ...]
    python -m losa_plugin.engine.checkpoint_budget CONFIG --on-disk WORK_DIR
        [--cfg-options k=v ...]

The first form builds each model on the meta device (no memory; ViT-g in seconds) and
counts bytes from the parameter and buffer shapes: the checkpoint as mmengine writes
it with ``EMAHook`` (whole-model ``state_dict`` + whole-model ``ema_state_dict`` +
AdamW's two moments of the trainable parameters) against a trainable-only checkpoint
with ``TrainableEMAHook``, and the EMA's resident memory in both cases. Figures are
exact byte counts of the tensors; a file adds a few hundred bytes per tensor.

The second form trains the config for one iteration three times (``EMAHook`` + full
checkpoint, ``TrainableEMAHook`` + full, ``TrainableEMAHook`` + trainable-only) under
``WORK_DIR`` and prints the checkpoint files' sizes and the EMA's bytes. The config's
data and ``pretrained`` file must exist (use ``--cfg-options`` to point at them).
"""
import argparse
import copy
import os.path as osp
from typing import Dict, List

from torch import nn

from .frozen_backbone import find_frozen_backbone
from .hooks.trainable_ema_hook import trainable_view


def _bytes(state: dict) -> int:
    return sum(t.numel() * t.element_size() for t in state.values())


def budget(model: nn.Module) -> Dict[str, int]:
    """Byte counts of one model (parameters may live on the meta device).

    Returns:
        ``state`` (whole ``state_dict``), ``frozen_state`` (the frozen backbone's
        part), ``frozen_params`` / ``trainable_params`` (counts), ``optimizer`` (AdamW ``exp_avg`` +
        ``exp_avg_sq``), ``ema_full`` (mmengine ``EMAHook``, ``update_buffers=True``:
        a copy of the whole ``state_dict``), ``ema_trainable`` (``TrainableEMAHook``),
        ``ckpt_full`` / ``ckpt_trainable`` (checkpoint tensors before / after).
    """
    state = model.state_dict()
    frozen = find_frozen_backbone(model)
    frozen_state = _bytes(frozen.module.state_dict()) if frozen is not None else 0
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = 2 * sum(p.numel() * p.element_size() for p in trainable)
    ema_full = _bytes(state)
    ema_trainable = _bytes(trainable_view(model).state_dict())
    return dict(state=_bytes(state), frozen_state=frozen_state,
                frozen_params=sum(p.numel() for p in frozen.module.parameters())
                if frozen is not None else 0,
                trainable_params=sum(p.numel() for p in trainable), optimizer=optimizer,
                ema_full=ema_full, ema_trainable=ema_trainable,
                ckpt_full=_bytes(state) + ema_full + optimizer,
                ckpt_trainable=_bytes(state) - frozen_state + ema_trainable + optimizer)


def _gb(n: int) -> str:
    return f'{n / 2**30:.2f} GiB' if n >= 2**28 else f'{n / 2**20:.2f} MiB'


def format_budget(name: str, b: Dict[str, int]) -> str:
    return '\n'.join([
        f'{name}',
        f'  state_dict {_gb(b["state"])} (frozen backbone {_gb(b["frozen_state"])}, '
        f'{b["frozen_params"]:,} parameters), trainable parameters '
        f'{b["trainable_params"]:,}, AdamW moments {_gb(b["optimizer"])}',
        f'  EMA resident: EMAHook {_gb(b["ema_full"])} -> TrainableEMAHook '
        f'{_gb(b["ema_trainable"])}',
        f'  checkpoint tensors: EMAHook + full {_gb(b["ckpt_full"])} -> trainable-only '
        f'{_gb(b["ckpt_trainable"])} ({b["ckpt_full"] / max(b["ckpt_trainable"], 1):.1f}x '
        'smaller)'])


def measure_on_disk(cfg, work_dir: str) -> List[dict]:
    """Train ``cfg`` one iteration in three set-ups; sizes of the written checkpoints."""
    import torch
    from mmengine.runner import Runner

    from .hooks import TrainableEMAHook, add_trainable_checkpoint_hook
    variants = [('EMAHook + full checkpoint', 'EMAHook', False),
                ('TrainableEMAHook + full checkpoint', 'TrainableEMAHook', False),
                ('TrainableEMAHook + trainable-only', 'TrainableEMAHook', True)]
    rows = []
    for i, (name, ema, trim) in enumerate(variants):
        c = copy.deepcopy(cfg)
        c.work_dir = osp.join(work_dir, f'variant{i}')
        c.experiment_name = f'budget_variant{i}'
        c.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
        c.val_cfg = c.val_dataloader = c.val_evaluator = None
        c.param_scheduler = None
        c.custom_hooks = [dict(type=ema, momentum=0.001, update_buffers=True, priority=49)]
        add_trainable_checkpoint_hook(c)
        c.default_hooks.trainable_checkpoint.save_trainable_only = trim
        c.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                          by_epoch=False, save_best=None)
        c.log_processor = dict(by_epoch=False)
        runner = Runner.from_cfg(c)
        runner.train()
        hook = next(h for h in runner.hooks if type(h).__name__ == ema)
        ckpt = osp.join(c.work_dir, 'iter_1.pth')
        saved = torch.load(ckpt, map_location='cpu')
        rows.append(dict(variant=name, file_bytes=osp.getsize(ckpt),
                         ema_bytes=_bytes(hook.ema_model.state_dict()),
                         state_tensors=len(saved['state_dict']),
                         ema_tensors=len(saved.get('ema_state_dict', {})),
                         trainable_ema=isinstance(hook, TrainableEMAHook)))
    return rows


def main(argv=None) -> None:
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope
    parser = argparse.ArgumentParser(description='checkpoint and EMA bytes')
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--on-disk', metavar='WORK_DIR',
                        help='train one iteration per set-up and measure the files')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    import losa_plugin  # noqa: F401
    from losa_plugin.utils.meta_build import build_model_on_meta
    for path in args.configs:
        cfg = Config.fromfile(path)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        init_default_scope(cfg.get('default_scope', 'mmaction'))
        if args.on_disk:
            for row in measure_on_disk(cfg, args.on_disk):
                print(f'{path}: {row["variant"]}: file {row["file_bytes"]:,} B, EMA '
                      f'{row["ema_bytes"]:,} B, state_dict {row["state_tensors"]} tensors, '
                      f'ema_state_dict {row["ema_tensors"]} tensors')
        else:
            print(format_budget(path, budget(build_model_on_meta(cfg.model))))


if __name__ == '__main__':
    main()
