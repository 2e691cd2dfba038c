"""Detect actions in videos with a trained checkpoint, and draw them.

    python tools/infer.py CONFIG CHECKPOINT VIDEO [VIDEO ...] --out DIR
        [--gt ANNOTATIONS] [--score-thr T] [--top-k K] [--plot-thr P] [--device D]
        [--cfg-options k=v ...]

Each video (any length; a file or a folder of frames) is cut into the config's test
windows, run through its test pipeline and model, and the windows are merged as
``TALMetric`` merges them, so the detections equal ``tools/test.py``'s for the same
video (docs/inference.md). Written to ``--out``:

* ``<video_id>.json``: the video's detections in the ActivityNet result format;
* ``results.json``: all videos in one file, the same format (as ``tools/test.py
  --dump`` writes it, so ``tools/eval_results.py`` evaluates it);
* ``<video_id>.png``: a timeline, one row per class, detections as bars shaded by
  score, ground truth above them when ``--gt`` names an annotation file that holds the
  video (matched by file name, without the dataset's ``file_prefix``).

A table of each video's top ``--top-k`` detections is printed. ``--score-thr`` drops
detections below it from every output (default 0: all of them, as ``tools/test.py``);
``--plot-thr`` only hides faint bars in the picture.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import losa_plugin  # noqa: E402,F401
from losa_plugin.apis import (VideoDetections, inference_tal_detector,  # noqa: E402
                              init_tal_detector, load_video_gt, plot_detection_timeline)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Temporal action localization on videos')
    parser.add_argument('config', help='model config (its test dataset and pipeline are used)')
    parser.add_argument('checkpoint', help='checkpoint (full or trainable-only)')
    parser.add_argument('videos', nargs='+', help='video files or folders of frames')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--gt', help='annotation file (ActivityNet database JSON) whose '
                        'ground truth is drawn beside the detections')
    parser.add_argument('--score-thr', type=float, default=0.0,
                        help='drop detections scoring below this (default 0: keep all)')
    parser.add_argument('--top-k', type=int, default=10,
                        help='detections listed in the printed table per video')
    parser.add_argument('--plot-thr', type=float, default=0.05,
                        help='detections drawn in the timeline score at least this')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    args = parser.parse_args(argv)
    if args.top_k < 0:
        parser.error(f'--top-k must be >= 0, got {args.top_k}')
    return args


def _tiou(seg: np.ndarray, gts: np.ndarray) -> float:
    if not len(gts):
        return float('nan')
    inter = (np.minimum(seg[1], gts[:, 1]) - np.maximum(seg[0], gts[:, 0])).clip(min=0)
    union = (seg[1] - seg[0]) + (gts[:, 1] - gts[:, 0]) - inter
    return float(np.max(inter / np.maximum(union, 1e-12)))


def format_table(result: VideoDetections, top_k: int) -> str:
    """The top ``top_k`` detections by score (ties in file order); with ground truth,
    each one's best tIoU with a ground-truth segment of its class."""
    order = np.argsort(-result.scores, kind='stable')[:top_k]
    has_gt = result.gt_segments is not None
    head = ['rank', 'class', 'start (s)', 'end (s)', 'length', 'score'] + \
        (['tIoU gt'] if has_gt else [])
    rows = []
    for rank, i in enumerate(order, 1):
        s, e = result.segments[i]
        c = int(result.labels[i])
        row = [str(rank), result.class_names[c], f'{s:.2f}', f'{e:.2f}', f'{e - s:.2f}',
               f'{result.scores[i]:.4f}']
        if has_gt:
            t = _tiou(result.segments[i], result.gt_segments[result.gt_labels == c])
            row.append('-' if np.isnan(t) else f'{t:.2f}')
        rows.append(row)
    widths = [max(len(r[j]) for r in [head] + rows) for j in range(len(head))]
    lines = ['  '.join(h.rjust(w) if j != 1 else h.ljust(w)
                       for j, (h, w) in enumerate(zip(r, widths))) for r in [head] + rows]
    return '\n'.join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    for v in args.videos:
        if not osp.exists(v):
            raise FileNotFoundError(f'video not found: {v}')
    if args.gt and not osp.isfile(args.gt):
        raise FileNotFoundError(f'--gt annotation file not found: {args.gt}')
    os.makedirs(args.out, exist_ok=True)
    model = init_tal_detector(args.config, args.checkpoint, args.device, args.cfg_options)
    classes = model.dataset_meta['classes']
    file_prefix = model.cfg.test_dataloader.dataset.get('file_prefix', '')
    all_results = {}
    for video in args.videos:
        name = osp.basename(osp.normpath(video))
        stem = name if osp.isdir(video) else osp.splitext(name)[0]
        gt = load_video_gt(args.gt, stem, classes, file_prefix) if args.gt else None
        if args.gt and gt is None:
            print(f'[infer] {video}: not in {args.gt}; no ground truth drawn')
        result = inference_tal_detector(model, video, gt=gt,
                                        progress=not args.no_progress)
        result = result.above(args.score_thr)
        entries = result.to_submission()
        all_results[result.video_id] = entries
        with open(osp.join(args.out, f'{result.video_id}.json'), 'w') as f:
            json.dump(dict(version='losa_plugin tools/infer.py',
                           results={result.video_id: entries}, external_data={}), f)
        drawn_thr = max(args.plot_thr, args.score_thr)  # result is already above score_thr
        shown = result.above(drawn_thr)
        png = osp.join(args.out, f'{result.video_id}.png')
        plot_detection_timeline(
            png, shown.segments, shown.scores, shown.labels, classes, result.duration,
            result.gt_segments, result.gt_labels,
            title=f'{result.video_id}: {len(shown.scores)} detections with score >= '
                  f'{drawn_thr:g}' + (' (orange: ground truth)' if gt else ''))
        print(f'\n{result.video_id}: {result.duration:.1f} s at {result.fps:g} fps, '
              f'{result.num_windows} window(s), {len(result.scores)} detections'
              f'{f" (score >= {args.score_thr:g})" if args.score_thr > 0 else ""}; '
              f'top {min(args.top_k, len(result.scores))}:')
        print(format_table(result, args.top_k))
        print(f'-> {osp.join(args.out, result.video_id + ".json")}, {png}')
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(version='losa_plugin tools/infer.py', results=all_results,
                       external_data={}), f)
    print(f'\nall detections: {osp.join(args.out, "results.json")}')


if __name__ == '__main__':
    main()
