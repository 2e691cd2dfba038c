"""Test (evaluate) a temporal action localization checkpoint.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump RESULTS.json]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

``--dump`` writes the merged detections in ActivityNet submission format.
Multi-process: ``bash tools/dist_test.sh CONFIG CHECKPOINT GPUS``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import losa_plugin  # noqa: E402,F401
from losa_plugin.engine import add_plugin_hooks  # noqa: E402
from losa_plugin.utils.launch import (add_common_args, load_config,  # noqa: E402
                                      shutdown_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a TAL model (LoSA plugin)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--dump', help='write detections (submission format JSON) here')
    parser.add_argument('--amp', action='store_true', help='unused for testing; accepted '
                        'for symmetry with train.py')
    add_common_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args)
    # trainable-only checkpoints load with their frozen backbone (docs/checkpoints.md),
    # strictly; non-finite guard, exact resume, data / model checks (docs/robustness.md)
    add_plugin_hooks(cfg)
    cfg.load_from = args.checkpoint
    if args.dump is not None:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        for ev in evaluators:
            if ev.get('type') == 'TALMetric':
                ev['out_file'] = args.dump

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.test()
    del runner  # its DDP wrapper holds the process group
    shutdown_distributed()


if __name__ == '__main__':
    main()
