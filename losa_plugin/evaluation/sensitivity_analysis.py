"""DETAD's sensitivity analysis: average mAP_N when the ground truth is restricted to
one bin of a characteristic (action length, coverage of the video, number of
instances in the video).

For bin b, each class keeps its ground truth in b; its detections that matched ground
truth outside b are set aside (neither true nor false positives: at every threshold a
kept detection is unmatched or matched inside b), recall counts the class's segments
in b, and AP_N is averaged over thresholds; the bin's value averages the classes
that have ground truth in b (DETAD's ``compute_average_mAP_N_for_characteristic``).
"""
from typing import Dict

import numpy as np

from .diagnosis_data import DiagnosisData
from .gt_characteristics import Bins, assign_bins
from .interpolated_ap import ap_from_flags


def sensitivity_analysis(data: DiagnosisData, bins: Dict[str, Bins],
                         normalize: bool = True) -> Dict:
    """Average mAP_N per characteristic bin.

    Args:
        data (DiagnosisData): see :func:`.diagnosis_data.prepare_diagnosis` (all
            detections, not limited).
        bins (dict): characteristic name -> :class:`.gt_characteristics.Bins`.
        normalize (bool): DETAD's normalized AP. Default True.

    Returns:
        dict (fractions): ``average_mAP`` (all ground truth), and per characteristic
        ``bins`` (label -> ``average_mAP`` or None without ground truth, ``num_gt``),
        ``relative_min`` / ``relative_max`` (extreme bin over the overall value).
    """
    norm = data.average_num_gt if normalize else None
    base = np.zeros((len(data.tious), len(data.classes)))
    for c, rc in enumerate(data.classes):
        base[:, c] = ap_from_flags((rc.matched >= 0).astype(np.float64), rc.num_gt, norm)
    overall = float(base.mean())
    out: Dict = dict(normalized=bool(normalize), average_mAP=overall, characteristics={})
    for name, spec in bins.items():
        which = assign_bins(data.characteristics[name], spec)
        table = {}
        for b, label in enumerate(spec.labels):
            in_bin = which == b
            aps = []
            for rc in data.classes:
                n = int(np.count_nonzero(in_bin & (data.gt.labels == rc.label)))
                if n == 0:
                    continue
                inside = np.where(rc.matched >= 0, in_bin[np.maximum(rc.matched, 0)], False)
                keep = np.all((rc.matched < 0) | inside, axis=0)
                flags = (rc.matched[:, keep] >= 0).astype(np.float64)
                aps.append(ap_from_flags(flags, n, norm).mean())
            table[label] = dict(average_mAP=float(np.mean(aps)) if aps else None,
                                num_gt=int(in_bin.sum()))
        values = [v['average_mAP'] for v in table.values() if v['average_mAP'] is not None]
        out['characteristics'][name] = dict(
            bins=table,
            relative_min=float(min(values) / overall) if values and overall else None,
            relative_max=float(max(values) / overall) if values and overall else None)
    return out
