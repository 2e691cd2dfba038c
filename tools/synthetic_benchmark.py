"""The synthetic TAL benchmark: head-only vs LoSA vs full fine-tuning, two regimes (CPU).

    python tools/synthetic_benchmark.py --out work_dirs/synthetic_benchmark [--quick]
        [--regimes aligned transfer] [--seeds N] [--full-ft-seeds N] [--data-seed N]
        [--strategies head_only losa full_ft (+ the PEFT baselines when present)]
        [--ablations wo_long wo_short wo_fusion gate_one gate_random gate_cosine
                     gate_cosine_token layers_upper bf16 stream pool2 gate_lr1 proj_frozen
                     attention_output]
        [--diagnostics head_only_layer1 ... head_only_layer7] [--probe] [--no-tap-cache]
        [--pretrain] [--ship-backbones] [--verbose]

Generates the synthetic data of each regime and takes its ViT from checkpoints/synthetic/
when the repository ships the backbone of exactly this pretraining (data seed 0), else
pretrains it (both skipped when present in --out), then trains and tests every strategy
per seed, each run in a fresh process.
The console shows one progress display and, at the end, the results tables and where the
files are; each step's full log goes to its own folder (``--verbose``: everything on the
console, interleaved). Writes ``results.json`` (``{"regimes": {...}, "paired": {...}}``, mAP as fractions),
``results.md``, ``results.png`` and ``gates.png`` to ``--out``.
See docs/synthetic_benchmark.md.
"""
import argparse
import os.path as osp
import sys

try:
    import losa_plugin  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import losa_plugin  # noqa: F401

from losa_plugin.synthetic.benchmark import (ABLATIONS, DEFAULT_REGIMES, DIAGNOSTICS, REGIMES,
                                             STRATEGIES, all_strategies, run_benchmark)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='output directory')
    p.add_argument('--quick', action='store_true',
                   help='small mode: fewer videos and epochs, 2 / 1 seeds (a few minutes)')
    p.add_argument('--regimes', nargs='+', default=list(DEFAULT_REGIMES),
                   choices=list(REGIMES))
    p.add_argument('--seeds', type=int,
                   help='seeds of head-only, LoSA and the ablations, paired (default 6, '
                   'quick: 2)')
    p.add_argument('--full-ft-seeds', type=int,
                   help='seeds of the strategies that train the backbone (default 3, quick: 1)')
    p.add_argument('--data-seed', type=int, default=0,
                   help='seed of the generated videos, pretraining clips and pretraining: a '
                   'fresh data set nobody tuned on (default 0)')
    p.add_argument('--strategies', nargs='*', default=list(STRATEGIES),
                   choices=list(all_strategies()))
    p.add_argument('--ablations', nargs='*', default=[], choices=list(ABLATIONS),
                   help='Table-4 ablations, memory modes (bf16, stream, pool2) and readings '
                   '(attention_output, gate_lr1), each a delta on the LoSA config')
    p.add_argument('--diagnostics', nargs='*', default=[], choices=list(DIAGNOSTICS),
                   help='head-only on block k instead of the last')
    p.add_argument('--epochs', type=int, help='override the TAL training epochs')
    p.add_argument('--threads', type=int, help='torch threads per process (default 1)')
    p.add_argument('--jobs', type=int, help='processes at a time (default 2)')
    p.add_argument('--no-tap-cache', action='store_true',
                   help='every run computes the backbone (no per-clip tap cache)')
    p.add_argument('--shuffle-labels', action='store_true',
                   help='train on permuted class labels (measures the chance floor)')
    p.add_argument('--probe', action='store_true',
                   help='linear probes of every backbone block on the trimmed clips')
    p.add_argument('--pretrain', action='store_true',
                   help='pretrain the backbones here even when checkpoints/synthetic/ ships '
                   'them (the log then says whether they came out bit for bit the same)')
    p.add_argument('--ship-backbones', action='store_true',
                   help='pretrain here and write the backbones to checkpoints/synthetic/')
    p.add_argument('--verbose', action='store_true',
                   help="print every log line (this job's and each run's full mmengine log, "
                   'interleaved) instead of the progress display')
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    run_benchmark(args.out, quick=args.quick, seeds=args.seeds,
                  full_ft_seeds=args.full_ft_seeds, strategies=args.strategies,
                  ablations=args.ablations, diagnostics=args.diagnostics,
                  regimes=args.regimes, data_seed=args.data_seed, tal_epochs=args.epochs,
                  threads=args.threads, jobs=args.jobs, tap_cache=not args.no_tap_cache,
                  shuffle_labels=args.shuffle_labels, probe=args.probe,
                  pretrain=args.pretrain, ship_backbones=args.ship_backbones,
                  verbose=args.verbose)


if __name__ == '__main__':
    main()
