"""DETAD-style error analysis of a results file (ActivityNet submission format).

    python tools/analyze_errors.py ANNOTATIONS RESULTS --subset S --out DIR
        [--tiou T [T ...]] [--preset {auto,activitynet,thumos14}] [--limit-factor 10]
        [--min-tiou 0.1] [--fn-min-precision 0.05] [--no-normalize]
        [--tie-order {stable,numpy}] [--class-names FILE] [--remove-duplicates]

Example:
    python tools/analyze_errors.py data/thumos14.json preds.json --subset Test \\
        --out work_dirs/errors

Writes DIR/error_analysis.json (every number, as fractions) and three figures:
false_positive_analysis.png (the error profile of each class's top 1G..10G detections,
G = its ground truth, and the average-mAP_N gain of removing each error type),
sensitivity_analysis.png (average-mAP_N per bin of action length, coverage and
number of instances) and false_negative_analysis.png (missed ground truth per bin).
The bins and default tIoU thresholds are DETAD's for the preset (auto: ActivityNet's
for the subsets training / validation / testing, else THUMOS-14's); docs/evaluation.md
describes the analyses and how they differ from DETAD's code.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DETAD-style error analysis')
    parser.add_argument('annotations', help='annotation file (ActivityNet "database" JSON)')
    parser.add_argument('results', help='detections in ActivityNet submission format')
    parser.add_argument('--subset', required=True, nargs='+',
                        help='subset(s) to analyse, e.g. Test (THUMOS-14) or validation')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--tiou', nargs='+', type=float,
                        help="tIoU threshold(s); default the preset's (DETAD: 0.5 on "
                        'THUMOS-14, 0.5:0.05:0.95 on ActivityNet)')
    parser.add_argument('--preset', choices=('auto', 'activitynet', 'thumos14'),
                        default='auto', help="DETAD's bins (and thresholds) of a dataset")
    parser.add_argument('--limit-factor', type=int, default=10,
                        help='false-positive profile over the top limit x G per class')
    parser.add_argument('--min-tiou', type=float, default=0.1,
                        help='below it a false positive is background')
    parser.add_argument('--fn-min-precision', type=float, default=0.05,
                        help='matches at a (normalized) precision <= this do not count '
                        'as finding the ground truth')
    parser.add_argument('--no-normalize', action='store_true',
                        help="plain AP instead of DETAD's normalized AP_N")
    parser.add_argument('--tie-order', choices=('stable', 'numpy'), default='stable',
                        help='ranking of equal scores (see tools/eval_results.py)')
    parser.add_argument('--class-names', help='text file with one class name a line')
    parser.add_argument('--remove-duplicates', action='store_true',
                        help='drop duplicate ground truth (same label, bounds within 1e-3 s)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import losa_plugin  # noqa: F401
    from losa_plugin.datasets.tal_annotation import load_tal_annotations
    from losa_plugin.evaluation import load_submission
    from losa_plugin.evaluation.error_analysis import analyze_errors, guess_preset
    from losa_plugin.evaluation.error_plots import (plot_false_negative,
                                                    plot_false_positive, plot_sensitivity)

    subset = args.subset[0] if len(args.subset) == 1 else args.subset
    ground_truth = load_tal_annotations(args.annotations, subset,
                                        class_names=args.class_names,
                                        remove_duplicates=args.remove_duplicates)
    detections = load_submission(args.results, ground_truth[0]['class_names'])
    preset = guess_preset(subset) if args.preset == 'auto' else args.preset
    report = analyze_errors(ground_truth, detections, preset=preset,
                            tiou_thresholds=args.tiou, limit_factor=args.limit_factor,
                            min_tiou=args.min_tiou, fn_min_precision=args.fn_min_precision,
                            normalize=not args.no_normalize, tie_order=args.tie_order)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'error_analysis.json'), 'w') as f:
        json.dump(report, f, indent=2)
    plot_false_positive(report['false_positive'],
                        osp.join(args.out, 'false_positive_analysis.png'))
    plot_sensitivity(report['sensitivity'], osp.join(args.out, 'sensitivity_analysis.png'))
    plot_false_negative(report['false_negative'],
                        osp.join(args.out, 'false_negative_analysis.png'))

    print_summary(report, preset)
    print(f'wrote {args.out}/error_analysis.json and three PNG figures')


def _pct(value) -> str:
    return '-' if value is None else f'{100 * value:.1f}'


def print_summary(report: dict, preset: str) -> None:
    fp, sens, fn = report['false_positive'], report['sensitivity'], report['false_negative']
    n = '_N' if report['settings']['normalized'] else ''
    tious = ', '.join(f'{t:.2f}' for t in report['settings']['tious'])
    print(f"preset {preset}, tIoU {tious}: average mAP "
          f"{100 * report['mAP']['average_mAP']:.2f}")
    print(f"false positives among the top {fp['limit_factor']}G per class "
          f"({fp['num_predictions']} detections, average-mAP{n} "
          f"{100 * fp['average_mAP']:.2f}):")
    for name, share in (fp['breakdown'] or {}).items():
        gain = fp['removal_gain'].get(name)
        print(f'  {name:22s} {100 * share:6.2f} %' +
              ('' if gain is None else f'   average-mAP{n} +{100 * gain:.2f} without it'))
    print(f"sensitivity (average-mAP{n}; all ground truth {100 * sens['average_mAP']:.2f}):")
    for name, c in sens['characteristics'].items():
        print(f'  {name:14s} ' + '  '.join(f"{label} {_pct(v['average_mAP'])}"
                                           for label, v in c['bins'].items()))
    print(f"false negatives ({100 * fn['fn_rate']:.1f} % of all ground truth), %:")
    for name, c in fn['characteristics'].items():
        print(f'  {name:14s} ' + '  '.join(f"{label} {_pct(v['fn_rate'])}"
                                           for label, v in c.items()))


if __name__ == '__main__':
    main()
