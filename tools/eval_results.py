"""Evaluate a results file in ActivityNet submission format (ActivityNet-style mAP).

    python tools/eval_results.py ANNOTATIONS RESULTS --subset NAME --tious T [T ...]
        [--json OUT] [--remove-duplicates] [--class-names FILE] [--tie-order {stable,numpy}]

Examples:
    python tools/eval_results.py data/thumos14.json preds.json --subset Test \\
        --tious 0.3 0.4 0.5 0.6 0.7
    python tools/eval_results.py anet13_val.json preds.json --subset validation \\
        --class-names anet13_classes.txt --tious 0.5 0.55 0.6 0.65 0.7 0.75 0.8 0.85 0.9 0.95

Prints AP (%) per class and tIoU, the mAP per tIoU and the average, and how many
detections have tied scores with the average-mAP span their order allows (false
positives first / true positives first within ties). ``--tie-order numpy`` ranks ties
as the official evaluator (``argsort()[::-1]``, numpy-version dependent); the default
``stable`` keeps them in file order. ``--json`` writes ``{"tious": [...], "mAP": [...],
"average_mAP": x, "tie_order": ..., "num_tied": n, "num_tie_groups": g,
"mAP_pessimistic": [...], "mAP_optimistic": [...], "average_mAP_pessimistic": x,
"average_mAP_optimistic": x}`` (fractions, full precision).
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='ActivityNet-style mAP of a results file')
    parser.add_argument('annotations', help='annotation file (ActivityNet "database" JSON)')
    parser.add_argument('results', help='detections in ActivityNet submission format')
    parser.add_argument('--subset', required=True, nargs='+',
                        help="subset(s) to evaluate, e.g. Test (THUMOS-14) or validation")
    parser.add_argument('--tious', required=True, nargs='+', type=float,
                        help='tIoU thresholds, e.g. 0.3 0.4 0.5 0.6 0.7')
    parser.add_argument('--json', help='write the mAP per tIoU and the average here')
    parser.add_argument('--remove-duplicates', action='store_true',
                        help='drop duplicate ground truth (same label, bounds within '
                        '1e-3 s) as ActionFormer / OpenTAD do; the official evaluator '
                        'keeps them')
    parser.add_argument('--class-names', help='text file with one class name a line '
                        '(default: derived from the annotation file)')
    parser.add_argument('--tie-order', choices=('stable', 'numpy'), default='stable',
                        help='ranking of equal scores: stable = file order (default); '
                        'numpy = argsort()[::-1] as the official ActivityNet evaluator, '
                        'whose tie order changed between numpy 1.26 and 2.x')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # imported after parsing so that --help and usage errors answer at once
    import losa_plugin  # noqa: F401
    from losa_plugin.evaluation import (evaluate_submission, format_ap_table,
                                        format_tie_report)

    subset = args.subset[0] if len(args.subset) == 1 else args.subset
    result = evaluate_submission(args.annotations, args.results, subset, args.tious,
                                 class_names=args.class_names,
                                 remove_duplicate_gt=args.remove_duplicates,
                                 tie_order=args.tie_order)
    print(format_ap_table(result))
    print()
    for t, m in zip(result.tious, result.mAP):
        print(f'mAP@{t:.2f}: {100 * m:.2f}')
    print(f'average mAP: {100 * result.average_mAP:.2f}')
    print(format_tie_report(result))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(tious=[float(t) for t in result.tious],
                           mAP=[float(m) for m in result.mAP],
                           average_mAP=float(result.average_mAP),
                           **result.tie_report()), f, indent=2)


if __name__ == '__main__':
    main()
