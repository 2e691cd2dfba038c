"""Ground-truth characteristics and their bins, as DETAD defines them (Alwassel et al.,
"Diagnosing Error in Temporal Action Detectors", ECCV 2018; github
HumamAlwassel/DETAD).

* ``length``: end - start, seconds;
* ``coverage``: length / the video's duration;
* ``num-instances``: ground-truth segments in the video, all classes counted (DETAD's
  THUMOS-14 file gives exactly this count on all 3358 test segments).

DETAD reads them from its own augmented annotation files; here they are computed
from the annotation file. Its other ActivityNet characteristics (context size /
distance, agreement) need annotations no public file has beside DETAD's and are not
offered. Bins follow DETAD's ``pandas.cut(..., include_lowest=True)``: right-closed
intervals ``(a, b]``, the first one closed on both sides.
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

CHARACTERISTICS = ('coverage', 'length', 'num-instances')


class Bins(NamedTuple):
    """Bin edges [B + 1] and labels [B] of one characteristic."""
    edges: Tuple[float, ...]
    labels: Tuple[str, ...]


# DETAD's settings (false_positive_analysis.py / sensitivity_analysis.py /
# false_negative_analysis.py, ``main``): ActivityNet validation and THUMOS-14.
DETAD_BINS: Dict[str, Dict[str, Bins]] = {
    'activitynet': {
        'coverage': Bins((0, .2, .4, .6, .8, 1.0), ('XS', 'S', 'M', 'L', 'XL')),
        'length': Bins((0, 30, 60, 120, 180, np.inf), ('XS', 'S', 'M', 'L', 'XL')),
        'num-instances': Bins((-1, 1, 4, 8, np.inf), ('XS', 'S', 'M', 'L')),
    },
    'thumos14': {
        'coverage': Bins((0, .02, .04, .06, .08, 1), ('XS', 'S', 'M', 'L', 'XL')),
        'length': Bins((0, 3, 6, 12, 18, np.inf), ('XS', 'S', 'M', 'L', 'XL')),
        'num-instances': Bins((-1, 1, 40, 80, np.inf), ('XS', 'S', 'M', 'L')),
    },
}
# DETAD's thresholds: 0.5:0.05:0.95 on ActivityNet, 0.5 on THUMOS-14
DETAD_TIOUS = {'activitynet': tuple(np.linspace(0.5, 0.95, 10)), 'thumos14': (0.5, )}


def assign_bins(values: np.ndarray, bins: Bins) -> np.ndarray:
    """Bin index of each value, -1 outside the edges (or NaN).

    Args:
        values (np.ndarray): [G].
        bins (Bins): edges ``e_0 < ... < e_B``; bin ``i`` is ``(e_i, e_{i+1}]``, bin 0
            also holds ``e_0``.

    Returns:
        np.ndarray: [G] int64.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    edges = np.asarray(bins.edges, dtype=np.float64)
    idx = np.searchsorted(edges, values, side='left') - 1
    idx[values == edges[0]] = 0
    idx[(values < edges[0]) | (values > edges[-1]) | np.isnan(values)] = -1
    return idx.astype(np.int64)


def gt_characteristics(ground_truth: Sequence[dict]) -> Dict[str, np.ndarray]:
    """Characteristics of every ground-truth segment, flattened in file order.

    Args:
        ground_truth (list[dict]): videos from
            :func:`losa_plugin.datasets.tal_annotation.load_tal_annotations`.

    Returns:
        dict: ``length``, ``coverage`` (NaN for videos without a duration),
        ``num-instances``, each [G] float64.
    """
    length: List[np.ndarray] = []
    coverage: List[np.ndarray] = []
    count: List[np.ndarray] = []
    for video in ground_truth:
        seg = np.asarray(video['segments'], dtype=np.float64).reshape(-1, 2)
        ln = seg[:, 1] - seg[:, 0]
        duration = video.get('duration')
        length.append(ln)
        coverage.append(ln / duration if duration else np.full(len(ln), np.nan))
        # counted before filter_for_diagnosis when it ran (DETAD counts the file's)
        count.append(np.asarray(video.get('num_instances', np.full(len(ln), float(len(ln)))),
                                dtype=np.float64))
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))
    return {'length': cat(length), 'coverage': cat(coverage), 'num-instances': cat(count)}


def filter_for_diagnosis(ground_truth: Sequence[dict]) -> Tuple[List[dict], Dict[str, int]]:
    """DETAD's ground-truth filter: drop segments with end <= start, and segments
    longer than their video (coverage > 1).

    Returns:
        (videos with the kept segments and a ``num-instances`` array [N] counted before
        filtering, counts of what was dropped).
    """
    out, n_empty, n_long = [], 0, 0
    for video in ground_truth:
        seg = np.asarray(video['segments'], dtype=np.float64).reshape(-1, 2)
        lab = np.asarray(video['labels'], dtype=np.int64)
        ln = seg[:, 1] - seg[:, 0]
        keep = ln > 0
        n_empty += int((~keep).sum())
        duration = video.get('duration')
        if duration:
            long_ = keep & (ln / duration > 1.0)
            n_long += int(long_.sum())
            keep &= ~long_
        out.append(dict(video, segments=seg[keep], labels=lab[keep],
                        num_instances=np.full(int(keep.sum()), float(len(seg)))))
    return out, {'zero_length': n_empty, 'longer_than_video': n_long}
