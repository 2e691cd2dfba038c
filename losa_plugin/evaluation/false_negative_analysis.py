"""DETAD's false-negative analysis: the share of ground truth that no confident
detection finds, per characteristic bin.

A ground-truth segment is found at threshold t when a detection matched it at a rank
where the class's (normalized) precision is still above ``min_precision`` (DETAD's
``minimum_normalized_precision_threshold_for_detection``, 0.05 in its
false-negative analysis): a match made deep in a list of false positives does not
count. Rates are averaged over thresholds.
"""
from typing import Dict

import numpy as np

from .diagnosis_data import DiagnosisData
from .gt_characteristics import Bins, assign_bins
from .interpolated_ap import precision_recall


def found_ground_truth(data: DiagnosisData, min_precision: float = 0.05,
                       normalize: bool = True) -> np.ndarray:
    """[K, G] bool: ground truth matched at a rank of precision > ``min_precision``."""
    norm = data.average_num_gt if normalize else None
    found = np.zeros((len(data.tious), len(data.gt.labels)), dtype=bool)
    for rc in data.classes:
        if rc.matched.shape[1] == 0:
            continue
        tp = (rc.matched >= 0).astype(np.float64)
        precision, _ = precision_recall(tp, rc.num_gt, norm)
        ok = (rc.matched >= 0) & (precision > min_precision)
        for k in range(len(data.tious)):
            found[k, rc.matched[k, ok[k]]] = True
    return found


def false_negative_analysis(data: DiagnosisData, bins: Dict[str, Bins],
                            min_precision: float = 0.05, normalize: bool = True) -> Dict:
    """False-negative rate overall and per characteristic bin.

    Returns:
        dict (fractions): ``fn_rate`` (all ground truth, averaged over thresholds),
        ``fn_rate_per_tiou`` [K], and per characteristic, per bin label, ``fn_rate``
        (None without ground truth), ``fn_rate_per_tiou`` and ``num_gt``.
    """
    found = found_ground_truth(data, min_precision, normalize)
    missed = ~found
    per_k = missed.mean(axis=1) if missed.shape[1] else np.zeros(len(data.tious))
    out: Dict = dict(min_precision=float(min_precision), normalized=bool(normalize),
                     fn_rate=float(per_k.mean()), fn_rate_per_tiou=per_k.tolist(),
                     characteristics={})
    for name, spec in bins.items():
        which = assign_bins(data.characteristics[name], spec)
        table = {}
        for b, label in enumerate(spec.labels):
            in_bin = which == b
            n = int(in_bin.sum())
            rates = missed[:, in_bin].mean(axis=1) if n else None
            table[label] = dict(fn_rate=None if rates is None else float(rates.mean()),
                                fn_rate_per_tiou=None if rates is None else rates.tolist(),
                                num_gt=n)
        out['characteristics'][name] = table
    return out
