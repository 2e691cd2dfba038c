"""DETAD-style diagnosis of a detection file: the false-positive profile, the
sensitivity of mAP to ground-truth characteristics and the false-negative analysis,
in one JSON-ready dict (docs/evaluation.md lists the differences from DETAD)."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger

from .detection_eval import Detections, evaluate_detections
from .diagnosis_data import prepare_diagnosis
from .false_negative_analysis import false_negative_analysis
from .false_positive_analysis import false_positive_analysis
from .gt_characteristics import DETAD_BINS, DETAD_TIOUS
from .sensitivity_analysis import sensitivity_analysis


def guess_preset(subset) -> str:
    """'activitynet' for ActivityNet's lower-case subset names (training / validation
    / testing), else 'thumos14' (Validation / Test)."""
    names = [subset] if isinstance(subset, str) else list(subset)
    return 'activitynet' if all(n in ('training', 'validation', 'testing')
                                for n in names) else 'thumos14'


def analyze_errors(ground_truth: Sequence[dict], detections: Detections,
                   preset: str = 'thumos14',
                   tiou_thresholds: Optional[Sequence[float]] = None,
                   limit_factor: int = 10, min_tiou: float = 0.1,
                   fn_min_precision: float = 0.05, normalize: bool = True,
                   tie_order: str = 'stable',
                   logger: Optional[MMLogger] = None) -> Dict:
    """Run the three analyses.

    Args:
        ground_truth (list[dict]): videos from ``load_tal_annotations``.
        detections (Detections): labels index the ground truth's class list.
        preset (str): ``'activitynet'`` or ``'thumos14'``: DETAD's bins and tIoU
            thresholds for that dataset.
        tiou_thresholds (Sequence[float], optional): overrides the preset's.
        limit_factor (int): top ``limit_factor x G`` per class in the false-positive
            analysis. Default 10.
        min_tiou (float): localization / confusion vs background. Default 0.1.
        fn_min_precision (float): a match at a rank of lower (normalized) precision
            does not count as finding the ground truth. Default 0.05.
        normalize (bool): DETAD's normalized AP (AP_N). Default True.
        tie_order (str): ``'stable'`` or ``'numpy'``.

    Returns:
        dict with ``settings``, ``mAP`` (the plain ActivityNet mAP on the unfiltered
        ground truth, with the tie report), ``false_positive``, ``sensitivity`` and
        ``false_negative`` (see the analyses' functions).
    """
    if preset not in DETAD_BINS:
        raise ValueError(f'preset must be one of {sorted(DETAD_BINS)}, got {preset!r}')
    tious = np.asarray(DETAD_TIOUS[preset] if tiou_thresholds is None else tiou_thresholds,
                       dtype=np.float64).reshape(-1)
    bins = DETAD_BINS[preset]
    plain = evaluate_detections(ground_truth, detections, tious, logger=logger,
                                tie_order=tie_order)
    data = prepare_diagnosis(ground_truth, detections, tious, tie_order, logger)
    return dict(
        settings=dict(preset=preset, tious=tious.tolist(), limit_factor=limit_factor,
                      min_tiou=float(min_tiou), fn_min_precision=float(fn_min_precision),
                      normalized=bool(normalize), tie_order=tie_order,
                      num_gt=int(len(data.gt.labels)), num_classes=len(data.classes),
                      num_predictions=int(len(detections.scores)),
                      average_num_gt=float(data.average_num_gt),
                      gt_left_out=data.dropped,
                      bins={name: dict(edges=[float(e) for e in b.edges],
                                       labels=list(b.labels)) for name, b in bins.items()}),
        mAP=dict(plain.metrics(), **plain.tie_report()),
        false_positive=false_positive_analysis(data, limit_factor, min_tiou, normalize),
        sensitivity=sensitivity_analysis(data, bins, normalize),
        false_negative=false_negative_analysis(data, bins, fn_min_precision, normalize))
