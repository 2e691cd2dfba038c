"""Recall@kx: ActionFormer's recall of the top k·x detections (THUMOS-14 reports
Recall@1x and Recall@5x beside mAP).

For a class and a video holding x ground-truth segments of it, the video's k·x
highest-scoring detections of that class are kept; a ground-truth segment is recalled
when any of them overlaps it by at least the tIoU threshold (no one-to-one matching).
Recall of a class = recalled segments / its segments; the metric averages the classes
present in the ground truth. Detections on videos without ground truth of their class
and of classes without ground truth do not enter. Equal scores rank by ``tie_order``
(:mod:`.tie_order`), as in mAP.
"""
from typing import Sequence

import numpy as np

from losa_plugin.utils.segment_ops import pairwise_tiou_np
from .detection_eval import Detections, FlatGroundTruth
from .tie_order import rank_descending


def _class_recalled(flat_gt: FlatGroundTruth, det_vid: np.ndarray, detections: Detections,
                    cls: int, tious: np.ndarray, top_k: Sequence[int],
                    tie_order: str) -> np.ndarray:
    """[K, len(top_k)] recalled ground-truth segments of class ``cls``."""
    hit = np.zeros((len(tious), len(top_k)))
    of_class = detections.labels == cls
    for v in np.unique(flat_gt.video[flat_gt.labels == cls]):
        gt = flat_gt.segments[(flat_gt.labels == cls) & (flat_gt.video == v)]
        d = np.flatnonzero(of_class & (det_vid == v))
        if d.size == 0:
            continue
        d = d[rank_descending(detections.scores[d], tie_order)][:max(top_k) * len(gt)]
        tiou = pairwise_tiou_np(detections.segments[d], gt)  # [P', x]
        for j, k in enumerate(top_k):
            reached = tiou[:k * len(gt)][:, :, None] >= tious[None, None, :]  # [P', x, K]
            hit[:, j] += reached.any(axis=0).sum(axis=0)
    return hit


def topkx_recall(flat_gt: FlatGroundTruth, detections: Detections,
                 tiou_thresholds: Sequence[float], top_k: Sequence[int] = (1, 5),
                 tie_order: str = 'stable') -> np.ndarray:
    """Mean over ground-truth classes of Recall@kx.

    Args:
        flat_gt: ground truth of the evaluated subset.
        detections: predictions; labels index the same class list.
        tiou_thresholds: [K].
        top_k: the k of Recall@kx. Default (1, 5).
        tie_order: ``'stable'`` or ``'numpy'``.

    Returns:
        np.ndarray: [K, len(top_k)] recall (fractions).
    """
    tious = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if not top_k or any(int(k) < 1 for k in top_k):
        raise ValueError(f'top_k must be positive integers, got {list(top_k)}')
    index = {v: i for i, v in enumerate(flat_gt.video_ids)}
    det_vid = np.array([index.get(v, -1) for v in detections.video_ids], dtype=np.int64)
    det = Detections(detections.video_ids,
                     np.asarray(detections.segments, np.float64).reshape(-1, 2),
                     np.asarray(detections.scores, np.float64).reshape(-1),
                     np.asarray(detections.labels, np.int64).reshape(-1))
    per_class = []
    for cls in flat_gt.class_ids:
        n_gt = int((flat_gt.labels == cls).sum())
        per_class.append(_class_recalled(flat_gt, det_vid, det, int(cls), tious,
                                         [int(k) for k in top_k], tie_order) / n_gt)
    return np.mean(per_class, axis=0)
