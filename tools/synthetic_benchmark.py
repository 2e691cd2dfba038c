"""The synthetic TAL benchmark: head-only vs LoSA vs full fine-tuning (CPU-sized).

    python tools/synthetic_benchmark.py --out work_dirs/synthetic_benchmark [--quick]
        [--seeds N] [--strategies head_only losa full_ft]
        [--ablations wo_long wo_short wo_fusion gate_one gate_random gate_cosine layers_upper
                     bf16 stream pool2 gate_lr10 proj_frozen]
        [--diagnostics head_only_layer1 head_only_layer2 head_only_layer3 head_only_norm
                       losa_norm] [--probe]

Generates the synthetic data and pretrains the tiny ViT (both skipped when present), then
trains and tests every strategy per seed, each run in a fresh process. Writes
``results.json``, ``results.md``, ``results.png`` and ``gates.png`` to ``--out``.
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

from losa_plugin.synthetic.benchmark import ABLATIONS, DIAGNOSTICS, STRATEGIES, run_benchmark


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='output directory')
    p.add_argument('--quick', action='store_true',
                   help='small mode: fewer videos and epochs, 1 seed (a few minutes)')
    p.add_argument('--seeds', type=int, help='training seeds (default: 3, quick: 1)')
    p.add_argument('--strategies', nargs='*', default=list(STRATEGIES),
                   choices=list(STRATEGIES))
    p.add_argument('--ablations', nargs='*', default=[], choices=list(ABLATIONS),
                   help='Table-4 ablations and memory modes (bf16, stream, pool2), each a model '
                   'delta on the LoSA config')
    p.add_argument('--diagnostics', nargs='*', default=[], choices=list(DIAGNOSTICS),
                   help='head-only on an intermediate block instead of the last; head-only '
                   'and LoSA with a LayerNorm on the pooled last layer')
    p.add_argument('--epochs', type=int, help='override the TAL training epochs')
    p.add_argument('--threads', type=int, help='torch threads per run (default 1)')
    p.add_argument('--jobs', type=int, help='TAL runs at a time, one process each '
                   '(default 2)')
    p.add_argument('--shuffle-labels', action='store_true',
                   help='train on permuted class labels (measures the chance floor)')
    p.add_argument('--probe', action='store_true',
                   help='linear probes of every backbone block on the trimmed clips')
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    run_benchmark(args.out, quick=args.quick, seeds=args.seeds, strategies=args.strategies,
                  ablations=args.ablations, diagnostics=args.diagnostics, tal_epochs=args.epochs, threads=args.threads,
                  jobs=args.jobs, shuffle_labels=args.shuffle_labels,
                  probe=args.probe)


if __name__ == '__main__':
    main()
