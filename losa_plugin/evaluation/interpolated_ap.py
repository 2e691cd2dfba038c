"""ActivityNet-style detection average precision of one class.

The arithmetic follows the official ActivityNet evaluator step by step (ranking,
matching, cumulative sums, interpolation), so that results agree with it to the last
digit, ties included.
"""
from typing import Dict, Sequence

import numpy as np

from losa_plugin.utils.segment_ops import pairwise_tiou_np


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the interpolated precision-recall curve.

    Precision is made monotone from the right (each point takes the best precision at
    any higher recall), then summed over the recall changes, with the curve closed at
    recall 0 and 1.

    Args:
        precision (np.ndarray): [P] precision after each ranked prediction.
        recall (np.ndarray): [P] recall after each ranked prediction.

    Returns:
        float: average precision in [0, 1].
    """
    mprec = np.hstack([[0.0], precision, [0.0]])
    mrec = np.hstack([[0.0], recall, [1.0]])
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def match_detections(pred_segments: np.ndarray, pred_gt_rows: Sequence[np.ndarray],
                     gt_segments: np.ndarray, tiou_thresholds: np.ndarray) -> np.ndarray:
    """Greedy matching of ranked predictions to ground truth, for every threshold.

    Args:
        pred_segments (np.ndarray): [P, 2] predictions, already ranked (best first).
        pred_gt_rows (list[np.ndarray]): per prediction, the rows of ``gt_segments``
            in its video (file order); empty when its video has none.
        gt_segments (np.ndarray): [G, 2] ground truth of the class.
        tiou_thresholds (np.ndarray): [K].

    Returns:
        np.ndarray: [K, P] float64, 1 where the prediction is a true positive. A
        prediction takes the unlocked ground truth of highest tIoU >= threshold
        (candidates ranked by ``argsort()[::-1]``, locked ones skipped, the first below
        the threshold ends the search); all other predictions are false positives.
    """
    thresholds = [float(t) for t in tiou_thresholds]
    tp = np.zeros((len(thresholds), len(pred_segments)))
    locked = np.zeros((len(thresholds), len(gt_segments)), dtype=bool)
    for p, rows in enumerate(pred_gt_rows):
        if len(rows) == 0:
            continue
        tiou = pairwise_tiou_np(pred_segments[p:p + 1], gt_segments[rows])[0]
        order = tiou.argsort()[::-1]
        ranked_tiou, ranked_rows = tiou[order].tolist(), rows[order].tolist()
        for k, thr in enumerate(thresholds):
            lock_k = locked[k]
            for value, row in zip(ranked_tiou, ranked_rows):
                if value < thr:
                    break
                if lock_k[row]:
                    continue
                lock_k[row] = True
                tp[k, p] = 1.0
                break
    return tp


def average_precision_detection(gt_video: np.ndarray, gt_segments: np.ndarray,
                                pred_video: np.ndarray, pred_segments: np.ndarray,
                                pred_scores: np.ndarray,
                                tiou_thresholds: Sequence[float]) -> np.ndarray:
    """Detection AP of one class at several tIoU thresholds.

    Args:
        gt_video (np.ndarray): [G] video index of each ground-truth segment (file order).
        gt_segments (np.ndarray): [G, 2] seconds.
        pred_video (np.ndarray): [P] video index of each prediction (file order), in the
            same index space as ``gt_video``; any index without ground truth here makes
            the prediction a false positive.
        pred_segments (np.ndarray): [P, 2] seconds.
        pred_scores (np.ndarray): [P] confidence; ranked by ``argsort()[::-1]``, so ties
            fall as in the official evaluator.
        tiou_thresholds (Sequence[float]): [K].

    Returns:
        np.ndarray: [K] AP per threshold (zeros when there is no prediction).
    """
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    ap = np.zeros(len(thresholds))
    if len(pred_scores) == 0 or len(gt_segments) == 0:
        return ap
    gt_segments = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    rank = np.asarray(pred_scores, dtype=np.float64).argsort()[::-1]
    segs = np.asarray(pred_segments, dtype=np.float64).reshape(-1, 2)[rank]
    vids = np.asarray(pred_video)[rank]

    rows_by_video: Dict[int, np.ndarray] = {}
    gt_video = np.asarray(gt_video)
    for v in np.unique(gt_video):
        rows_by_video[int(v)] = np.flatnonzero(gt_video == v)
    empty = np.zeros(0, dtype=np.int64)
    pred_rows = [rows_by_video.get(int(v), empty) for v in vids]

    tp = match_detections(segs, pred_rows, gt_segments, thresholds)
    fp = 1.0 - tp
    tp_cum = np.cumsum(tp, axis=1)
    fp_cum = np.cumsum(fp, axis=1)
    recall = tp_cum / float(len(gt_segments))
    precision = tp_cum / (tp_cum + fp_cum)
    for k in range(len(thresholds)):
        ap[k] = interpolated_ap(precision[k], recall[k])
    return ap
