"""Train a temporal action localization model.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

Multi-process: ``bash tools/dist_train.sh CONFIG GPUS`` (gloo on CPU, nccl on GPU).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import losa_plugin  # noqa: E402,F401  (compat shims + registration)
from losa_plugin.engine import add_plugin_hooks  # noqa: E402
from losa_plugin.utils.launch import (add_common_args, enable_amp, load_config,  # noqa: E402
                                      shutdown_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a TAL model (LoSA plugin)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest one in '
                        'the work dir when no path is given')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (CUDA)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic options for CUDNN')
    add_common_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    # trainable-only checkpoints load with their frozen backbone (docs/checkpoints.md),
    # strictly; non-finite guard, exact resume, data / model checks (docs/robustness.md)
    add_plugin_hooks(cfg)
    if args.amp:
        enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.seed is not None or args.deterministic:
        randomness = cfg.setdefault('randomness', {})
        if args.seed is not None:
            randomness['seed'] = args.seed
        randomness['deterministic'] = args.deterministic

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    del runner  # its DDP wrapper holds the process group
    shutdown_distributed()


if __name__ == '__main__':
    main()
