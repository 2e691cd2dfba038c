"""ActivityNet-style detection average precision of one class.

The arithmetic follows the official ActivityNet evaluator step by step (ranking,
matching, cumulative sums, interpolation), so that results agree with it to the last
digit; with ``tie_order='numpy'`` ties fall as there too (see :mod:`.tie_order`).
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from losa_plugin.utils.segment_ops import pairwise_tiou_np
from .tie_order import rank_descending


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


Candidates = List[Tuple[List[float], List[int]]]


def rank_candidates(pred_segments: np.ndarray, pred_gt_rows: Sequence[np.ndarray],
                    gt_segments: np.ndarray, tie_order: str = 'stable') -> Candidates:
    """Each prediction's ground truth, best tIoU first.

    Args:
        pred_segments (np.ndarray): [P, 2] predictions.
        pred_gt_rows (list[np.ndarray]): per prediction, the rows of ``gt_segments``
            in its video (file order); empty when its video has none.
        gt_segments (np.ndarray): [G, 2] ground truth of the class.
        tie_order (str): how ground truth of equal tIoU is ranked (``'stable'``: file
            order; ``'numpy'``: ``argsort()[::-1]`` as the official evaluator).

    Returns:
        list: per prediction, (tIoUs, rows) as Python lists in that ranking.
    """
    out: Candidates = []
    for p, rows in enumerate(pred_gt_rows):
        if len(rows) == 0:
            out.append(([], []))
            continue
        tiou = pairwise_tiou_np(pred_segments[p:p + 1], gt_segments[rows])[0]
        order = rank_descending(tiou, tie_order)
        out.append((tiou[order].tolist(), rows[order].tolist()))
    return out


def first_free(candidates: Tuple[List[float], List[int]], threshold: float,
               locked: np.ndarray) -> int:
    """The ground truth a prediction takes, or -1: walking its candidates best first,
    locked ones are skipped and the first below ``threshold`` ends the search (the
    official rule; a NaN tIoU is not below any threshold)."""
    for value, row in zip(*candidates):
        if value < threshold:
            return -1
        if not locked[row]:
            return row
    return -1


def match_detections(pred_segments: np.ndarray, pred_gt_rows: Sequence[np.ndarray],
                     gt_segments: np.ndarray, tiou_thresholds: np.ndarray,
                     tie_order: str = 'stable') -> np.ndarray:
    """Greedy matching of ranked predictions to ground truth, for every threshold.

    Args:
        pred_segments (np.ndarray): [P, 2] predictions, already ranked (best first).
        pred_gt_rows, gt_segments, tie_order: see :func:`rank_candidates`.
        tiou_thresholds (np.ndarray): [K].

    Returns:
        np.ndarray: [K, P] int64, the matched row of ``gt_segments`` or -1 (false
        positive); each prediction in turn takes :func:`first_free` and locks it.
    """
    cands = rank_candidates(pred_segments, pred_gt_rows, gt_segments, tie_order)
    return greedy_match(cands, tiou_thresholds, len(gt_segments))


def greedy_match(candidates: Candidates, tiou_thresholds: Sequence[float],
                 num_gt: int) -> np.ndarray:
    """:func:`match_detections` on precomputed :func:`rank_candidates` output."""
    thresholds = [float(t) for t in tiou_thresholds]
    matched = np.full((len(thresholds), len(candidates)), -1, dtype=np.int64)
    for k, thr in enumerate(thresholds):
        locked = np.zeros(num_gt, dtype=bool)
        for p, cand in enumerate(candidates):
            if not cand[0]:
                continue
            row = first_free(cand, thr, locked)
            if row >= 0:
                locked[row] = True
                matched[k, p] = row
    return matched


class ClassMatch(NamedTuple):
    """Ranking and matching of one class's predictions.

    Attributes:
        rank (np.ndarray): [P] indices into the input predictions, best first.
        sorted_scores (np.ndarray): [P] their scores in that order.
        matched (np.ndarray): [K, P] int64 ground-truth row (index into the class's
            ground truth) matched by each ranked prediction, -1 for a false positive.
        num_gt (int): ground-truth segments of the class.
        candidates (list): per ranked prediction, its ground truth best first
            (:func:`rank_candidates`), for re-matching in other orders.
    """
    rank: np.ndarray
    sorted_scores: np.ndarray
    matched: np.ndarray
    num_gt: int
    candidates: Candidates

    @property
    def tp(self) -> np.ndarray:
        """[K, P] float64 true-positive flags in ranked order."""
        return (self.matched >= 0).astype(np.float64)


def match_class(gt_video: np.ndarray, gt_segments: np.ndarray, pred_video: np.ndarray,
                pred_segments: np.ndarray, pred_scores: np.ndarray,
                tiou_thresholds: Sequence[float], tie_order: str = 'stable') -> ClassMatch:
    """Rank one class's predictions and match them to its ground truth.

    Args:
        gt_video (np.ndarray): [G] video index of each ground-truth segment (file order).
        gt_segments (np.ndarray): [G, 2] seconds.
        pred_video (np.ndarray): [P] video index of each prediction (file order), in the
            same index space as ``gt_video``; any index without ground truth here makes
            the prediction a false positive.
        pred_segments (np.ndarray): [P, 2] seconds.
        pred_scores (np.ndarray): [P] confidence.
        tiou_thresholds (Sequence[float]): [K].
        tie_order (str): ``'stable'`` or ``'numpy'`` (see :mod:`.tie_order`), for the
            predictions' scores and the ground truth's tIoUs.

    Returns:
        ClassMatch.
    """
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    gt_segments = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    rank = rank_descending(scores, tie_order)
    segs = np.asarray(pred_segments, dtype=np.float64).reshape(-1, 2)[rank]
    vids = np.asarray(pred_video).reshape(-1)[rank]

    rows_by_video: Dict[int, np.ndarray] = {}
    gt_video = np.asarray(gt_video).reshape(-1)
    for v in np.unique(gt_video):
        rows_by_video[int(v)] = np.flatnonzero(gt_video == v)
    empty = np.zeros(0, dtype=np.int64)
    pred_rows = [rows_by_video.get(int(v), empty) for v in vids]
    cands = rank_candidates(segs, pred_rows, gt_segments, tie_order)
    matched = greedy_match(cands, thresholds, len(gt_segments))
    return ClassMatch(rank=rank, sorted_scores=scores[rank], matched=matched,
                      num_gt=len(gt_segments), candidates=cands)


def precision_recall(tp: np.ndarray, num_gt: int,
                     average_num_gt: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each ranked prediction.

    Args:
        tp (np.ndarray): [K, P] 1.0 (true positive) / 0.0, best prediction first.
        num_gt (int): ground-truth segments of the class (recall's denominator).
        average_num_gt (float, optional): DETAD's normalized precision (its AP_N):
            ``R * N / (R * N + FP)`` with ``N`` this value (ground truth per class,
            averaged over classes) instead of the class's own count, so that classes
            compare at equal prevalence. None: plain ``TP / (TP + FP)``.

    Returns:
        (precision [K, P], recall [K, P]).
    """
    tp = np.asarray(tp, dtype=np.float64)
    tp_cum = np.cumsum(tp, axis=1)
    fp_cum = np.cumsum(1.0 - tp, axis=1)
    recall = tp_cum / float(num_gt)
    if average_num_gt is None:
        precision = tp_cum / (tp_cum + fp_cum)
    else:
        scaled = recall * float(average_num_gt)
        precision = scaled / (scaled + fp_cum)
    return precision, recall


def ap_from_flags(tp: np.ndarray, num_gt: int,
                  average_num_gt: Optional[float] = None) -> np.ndarray:
    """Interpolated AP per threshold from ranked true-positive flags.

    Args:
        tp (np.ndarray): [K, P] 1.0 (true positive) / 0.0, best prediction first.
        num_gt (int): ground-truth segments of the class (recall's denominator).
        average_num_gt (float, optional): see :func:`precision_recall` (DETAD's AP_N).

    Returns:
        np.ndarray: [K] AP; zeros when there is no prediction or no ground truth.
    """
    tp = np.asarray(tp, dtype=np.float64)
    ap = np.zeros(tp.shape[0])
    if tp.shape[1] == 0 or num_gt == 0:
        return ap
    precision, recall = precision_recall(tp, num_gt, average_num_gt)
    for k in range(tp.shape[0]):
        ap[k] = interpolated_ap(precision[k], recall[k])
    return ap


def average_precision_detection(gt_video: np.ndarray, gt_segments: np.ndarray,
                                pred_video: np.ndarray, pred_segments: np.ndarray,
                                pred_scores: np.ndarray,
                                tiou_thresholds: Sequence[float],
                                tie_order: str = 'stable') -> np.ndarray:
    """Detection AP of one class at several tIoU thresholds.

    Args: as :func:`match_class`.

    Returns:
        np.ndarray: [K] AP per threshold (zeros when there is no prediction).
    """
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if len(pred_scores) == 0 or len(gt_segments) == 0:
        return np.zeros(len(thresholds))
    m = match_class(gt_video, gt_segments, pred_video, pred_segments, pred_scores,
                    thresholds, tie_order)
    return ap_from_flags(m.tp, m.num_gt)
