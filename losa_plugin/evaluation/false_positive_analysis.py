"""DETAD's false-positive analysis: what each detection among a class's top
``limit_factor x G`` is (G = the class's ground truth), how that profile changes from
the 1st to the 10th G-block of the ranking, and how much average mAP_N each kind of
error costs.

Categories of a detection at tIoU threshold t (DETAD's ``analyze_fp_error_types``),
against the ground truth of every class in its video, whose best-overlapping segment
(first in file order on equal tIoU) has tIoU u and label l:

* True Positive: matched by the evaluator;
* Double Detection: u >= t and l is the detection's label (that ground truth was
  taken by a higher-ranked detection);
* Wrong Label: u >= t, another label;
* Localization: ``min_tiou`` <= u < t, same label;
* Confusion: ``min_tiou`` <= u < t, another label;
* Background: u < ``min_tiou``, or no ground truth in the video.
"""
from typing import Dict, List

import numpy as np

from losa_plugin.utils.segment_ops import pairwise_tiou_np
from .diagnosis_data import DiagnosisData, RankedClass
from .interpolated_ap import ap_from_flags

FP_TYPES = ('True Positive', 'Double Detection Err', 'Wrong Label Err',
            'Localization Err', 'Confusion Err', 'Background Err')
TP, DOUBLE, WRONG_LABEL, LOCALIZATION, CONFUSION, BACKGROUND = range(6)


def top_overlap(data: DiagnosisData):
    """Each detection's best tIoU with any ground truth of its video, and that ground
    truth's label (-1 and tIoU 0 in a video without ground truth).

    Returns:
        (top_tiou [P] float64, top_label [P] int64).
    """
    det = data.detections
    segs = np.asarray(det.segments, dtype=np.float64).reshape(-1, 2)
    top_tiou = np.zeros(len(segs))
    top_label = np.full(len(segs), -1, dtype=np.int64)
    for v in np.unique(data.det_video[data.det_video >= 0]):
        rows = np.flatnonzero(data.gt.video == v)
        dets = np.flatnonzero(data.det_video == v)
        if len(rows) == 0:
            continue
        tiou = pairwise_tiou_np(segs[dets], data.gt.segments[rows])
        best = np.argmax(tiou, axis=1)  # first maximum, as DETAD's argmax
        top_tiou[dets] = tiou[np.arange(len(dets)), best]
        top_label[dets] = data.gt.labels[rows[best]]
    return top_tiou, top_label


def error_types(rc: RankedClass, n: int, det_video: np.ndarray, top_tiou: np.ndarray,
                top_label: np.ndarray, tious: np.ndarray, min_tiou: float) -> np.ndarray:
    """[K, n] category (index into ``FP_TYPES``) of the class's ``n`` best detections."""
    idx = rc.det_index[:n]
    u, same = top_tiou[idx], top_label[idx] == rc.label
    no_gt = det_video[idx] < 0
    out = np.empty((len(tious), len(idx)), dtype=np.int64)
    for k, t in enumerate(tious):
        code = np.where(u >= t, np.where(same, DOUBLE, WRONG_LABEL),
                        np.where(u >= min_tiou, np.where(same, LOCALIZATION, CONFUSION),
                                 BACKGROUND))
        code[no_gt] = BACKGROUND
        code[rc.matched[k, :n] >= 0] = TP
        out[k] = code
    return out


def false_positive_analysis(data: DiagnosisData, limit_factor: int = 10,
                            min_tiou: float = 0.1, normalize: bool = True) -> Dict:
    """The false-positive profile and the average-mAP_N gain of removing each error.

    Args:
        data (DiagnosisData): see :func:`.diagnosis_data.prepare_diagnosis`.
        limit_factor (int): keep each class's top ``limit_factor x G`` detections and
            profile them in ``limit_factor`` blocks of G. Default 10 (DETAD).
        min_tiou (float): below it a false positive is background. Default 0.1.
        normalize (bool): DETAD's normalized AP (precision at the average class size).

    Returns:
        dict (fractions): ``mAP`` [K] and ``average_mAP`` of the kept detections,
        ``num_predictions``, ``breakdown`` (each category's share of the kept
        detections, averaged over thresholds), ``counts_per_tiou``, ``profile`` (one
        entry per G-block: ``group`` '1G'.., ``num_predictions``, ``fractions`` or None
        when empty) and ``removal_gain`` (average-mAP_N gain per error category).
    """
    if not isinstance(limit_factor, int) or limit_factor < 1:
        raise ValueError(f'limit_factor must be a positive int, got {limit_factor!r}')
    tious = data.tious
    norm = data.average_num_gt if normalize else None
    top_tiou, top_label = top_overlap(data)
    n_cls, n_k = len(data.classes), len(tious)
    codes: List[np.ndarray] = []
    for rc in data.classes:
        n = min(len(rc.det_index), int(rc.num_gt * limit_factor))
        codes.append(error_types(rc, n, data.det_video, top_tiou, top_label, tious,
                                 min_tiou))

    base = np.zeros((n_k, n_cls))
    gains = {name: np.zeros((n_k, n_cls)) for name in FP_TYPES[1:]}
    for c, (rc, code) in enumerate(zip(data.classes, codes)):
        tp = (code == TP).astype(np.float64)
        base[:, c] = ap_from_flags(tp, rc.num_gt, norm)
        for e, name in enumerate(FP_TYPES[1:], start=1):
            for k in range(n_k):
                gains[name][k, c] = ap_from_flags(tp[k:k + 1, code[k] != e], rc.num_gt,
                                                  norm)[0]
    counts = np.zeros((n_k, len(FP_TYPES)))
    profile = []
    for g in range(limit_factor):
        group_counts = np.zeros((n_k, len(FP_TYPES)))
        size = 0
        for rc, code in zip(data.classes, codes):
            block = code[:, g * rc.num_gt:(g + 1) * rc.num_gt]
            size += block.shape[1]
            for e in range(len(FP_TYPES)):
                group_counts[:, e] += (block == e).sum(axis=1)
        counts += group_counts
        profile.append(dict(group=f'{g + 1}G', num_predictions=size,
                            fractions=None if size == 0 else dict(zip(
                                FP_TYPES, (group_counts.mean(axis=0) / size).tolist()))))
    total = sum(code.shape[1] for code in codes)
    mAP = base.mean(axis=1)
    return dict(
        limit_factor=limit_factor, min_tiou=float(min_tiou), normalized=bool(normalize),
        mAP=mAP.tolist(), average_mAP=float(mAP.mean()), num_predictions=int(total),
        breakdown=None if total == 0 else dict(zip(FP_TYPES,
                                                   (counts.mean(axis=0) / total).tolist())),
        counts_per_tiou={f'{t:.2f}': dict(zip(FP_TYPES, [int(x) for x in row]))
                         for t, row in zip(tious, counts)},
        profile=profile,
        removal_gain={name: float(v.mean() - mAP.mean()) for name, v in gains.items()})
