"""What the DETAD-style analyses share: the ground truth after DETAD's filter, its
characteristics, and every class's ranked detections with their matches."""
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger

from .detection_eval import (Detections, FlatGroundTruth, flatten_ground_truth,
                             match_all_classes)
from .gt_characteristics import filter_for_diagnosis, gt_characteristics


class RankedClass(NamedTuple):
    """One class's detections in rank order.

    Attributes:
        label (int): class index.
        det_index (np.ndarray): [P_c] indices into the ``Detections``, best first.
        scores (np.ndarray): [P_c] their scores.
        matched (np.ndarray): [K, P_c] int64 matched row of the flat ground truth per
            threshold, -1 for a false positive.
        num_gt (int): ground truth of the class.
    """
    label: int
    det_index: np.ndarray
    scores: np.ndarray
    matched: np.ndarray
    num_gt: int


class DiagnosisData(NamedTuple):
    """Inputs of the false-positive, sensitivity and false-negative analyses.

    Attributes:
        gt (FlatGroundTruth): kept ground truth [G], file order.
        classes (list[RankedClass]): one per class present in ``gt`` (first-appearance
            order, as the official evaluator averages).
        tious (np.ndarray): [K].
        average_num_gt (float): G / C, DETAD's N for the normalized AP.
        det_video (np.ndarray): [P] index into ``gt.video_ids`` of each detection, -1
            for a video without kept ground truth.
        detections (Detections): [P] as given.
        characteristics (dict): name -> [G] values (see :mod:`.gt_characteristics`).
        dropped (dict): ground truth left out by DETAD's filter, by reason.
    """
    gt: FlatGroundTruth
    classes: List[RankedClass]
    tious: np.ndarray
    average_num_gt: float
    det_video: np.ndarray
    detections: Detections
    characteristics: Dict[str, np.ndarray]
    dropped: Dict[str, int]


def prepare_diagnosis(ground_truth: Sequence[dict], detections: Detections,
                      tiou_thresholds: Sequence[float], tie_order: str = 'stable',
                      logger: Optional[MMLogger] = None) -> DiagnosisData:
    """Filter the ground truth as DETAD does, then rank and match every class.

    Args:
        ground_truth (list[dict]): videos from ``load_tal_annotations``.
        detections (Detections): labels index the ground truth's class list.
        tiou_thresholds (Sequence[float]): [K].
        tie_order (str): ``'stable'`` or ``'numpy'`` (see :mod:`.tie_order`).
        logger (MMLogger, optional): defaults to the current instance.
    """
    logger = logger or MMLogger.get_current_instance()
    kept, dropped = filter_for_diagnosis(ground_truth)
    if any(dropped.values()):
        logger.info(f'error analysis: left out {dropped} ground-truth segments, as DETAD')
    flat = flatten_ground_truth(kept)
    tious = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    classes = []
    for res in match_all_classes(flat, detections, tious, tie_order, logger):
        m = res.match
        matched = np.where(m.matched >= 0, res.gt_index[np.maximum(m.matched, 0)], -1)
        classes.append(RankedClass(label=int(flat.labels[res.gt_index[0]]),
                                   det_index=res.det_index[m.rank], scores=m.sorted_scores,
                                   matched=matched, num_gt=m.num_gt))
    index = {v: i for i, v in enumerate(flat.video_ids)}
    det_video = np.array([index.get(v, -1) for v in detections.video_ids], dtype=np.int64)
    return DiagnosisData(gt=flat, classes=classes, tious=tious,
                         average_num_gt=len(flat.labels) / len(flat.class_ids),
                         det_video=det_video, detections=detections,
                         characteristics=gt_characteristics(kept), dropped=dropped)

