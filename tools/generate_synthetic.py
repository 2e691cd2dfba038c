"""Write the synthetic dataset: untrimmed videos (THUMOS-14 format) and trimmed clips.

    python tools/generate_synthetic.py --out data/synthetic [--quick] [--seed 0]

Layout under ``--out``::

    untrimmed/videos/*.mp4, untrimmed/annotations.json, untrimmed/classes.txt
    trimmed/clips/<Class>/*.mp4, trimmed/{train,val}_list.txt, trimmed/classes.txt
    summary.json

See docs/synthetic.md for the classes, the knobs and the default statistics.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

try:
    import losa_plugin  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import losa_plugin  # noqa: F401

from losa_plugin.synthetic import (SyntheticConfig, format_summary, generate_trimmed,
                                   generate_untrimmed, summarize_trimmed, summarize_untrimmed)

# (untrimmed videos, trimmed clips per class)
SIZES = {'full': (96, 80), 'quick': (24, 20)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='output directory')
    p.add_argument('--quick', action='store_true',
                   help=f'small set: {SIZES["quick"][0]} untrimmed videos, '
                   f'{SIZES["quick"][1]} clips per class (default {SIZES["full"]})')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-videos', type=int, help='untrimmed videos (overrides the size)')
    p.add_argument('--num-per-class', type=int, help='trimmed clips per class (overrides)')
    p.add_argument('--skip-trimmed', action='store_true')
    p.add_argument('--skip-untrimmed', action='store_true')
    p.add_argument('--cfg', nargs='*', default=[], metavar='KEY=VALUE',
                   help='SyntheticConfig fields, VALUE as JSON, e.g. height=96 width=96 '
                   'fps=15 "classes=[\\"MoveRight\\",\\"Blink\\"]" with_background=true')
    return p.parse_args(argv)


def parse_cfg(items) -> SyntheticConfig:
    overrides = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep:
            raise SystemExit(f'--cfg: expected KEY=VALUE, got {item!r}')
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value  # a bare string such as codec=mpeg4
    return SyntheticConfig.from_dict(overrides)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = parse_cfg(args.cfg)
    num_videos, num_per_class = SIZES['quick' if args.quick else 'full']
    num_videos = args.num_videos or num_videos
    num_per_class = args.num_per_class or num_per_class
    os.makedirs(args.out, exist_ok=True)
    summary, t0 = {}, time.time()
    untrimmed_stats, trimmed_stats = {}, {}
    if not args.skip_untrimmed:
        ann_file = generate_untrimmed(osp.join(args.out, 'untrimmed'), num_videos, args.seed,
                                      cfg, progress=True)
        untrimmed_stats = summarize_untrimmed(ann_file, cfg.clip_len)
        summary.update(ann_file=ann_file, untrimmed=untrimmed_stats)
    if not args.skip_trimmed:
        train_list, val_list = generate_trimmed(osp.join(args.out, 'trimmed'), num_per_class,
                                                args.seed, cfg, progress=True)
        trimmed_stats = {split: summarize_trimmed(path, cfg.label_names)
                         for split, path in (('train', train_list), ('val', val_list))}
        summary.update(train_list=train_list, val_list=val_list, trimmed=trimmed_stats,
                       clip_root=osp.join(args.out, 'trimmed', 'clips'))
    summary.update(seed=args.seed, seconds=round(time.time() - t0, 1), config=cfg.to_dict())
    with open(osp.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print(format_summary(untrimmed_stats, trimmed_stats))
    print(f'done in {summary["seconds"]} s; summary in {osp.join(args.out, "summary.json")}')


if __name__ == '__main__':
    main()
