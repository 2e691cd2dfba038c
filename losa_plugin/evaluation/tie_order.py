"""How equal scores are ranked, and how much the ranking of ties can move AP.

The official ActivityNet evaluator ranks a class's predictions by
``scores.argsort()[::-1]`` (and a prediction's ground-truth candidates by
``tiou.argsort()[::-1]``). numpy's default sort is not stable and its order of equal
values changed between numpy 1.26 and 2.x (SIMD sorts), so released detections with
tied scores get different mAP from the same evaluator under different numpy versions
(S-CNN on THUMOS-14: 20.58 vs 20.92 average mAP). Two orders are offered:

* ``'stable'`` (default): descending, equal values in file order. Independent of
  numpy's version and platform.
* ``'numpy'``: ``argsort()[::-1]`` as the official evaluator does; reproduces its
  numbers under the numpy version that runs it.

Whatever the order, :mod:`.tie_span` reports the span ties can cause (false positives
first within each block of equal scores, or true positives first).
"""
from typing import Tuple

import numpy as np

TIE_ORDERS = ('stable', 'numpy')


def check_tie_order(tie_order: str, where: str = 'tie_order') -> str:
    """Return ``tie_order`` or raise a ValueError naming ``where`` and the choices."""
    if tie_order not in TIE_ORDERS:
        raise ValueError(f'{where} must be one of {TIE_ORDERS}, got {tie_order!r}')
    return tie_order


def rank_descending(values: np.ndarray, tie_order: str = 'stable') -> np.ndarray:
    """Indices of ``values`` from highest to lowest.

    Args:
        values (np.ndarray): [N] scores or tIoUs.
        tie_order (str): ``'stable'`` (equal values keep their input order) or
            ``'numpy'`` (``argsort()[::-1]``: numpy's default sort, reversed).

    Returns:
        np.ndarray: [N] int64 permutation. NaN ranks first, as it does under
        ``argsort()[::-1]`` (a zero-length segment has NaN tIoU; the official evaluator
        thereby matches a zero-length ground truth to the first prediction of its class
        in its video, and both orders keep that).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if check_tie_order(tie_order) == 'numpy':
        return values.argsort()[::-1]
    nan = np.isnan(values)
    # lexsort is stable; its last key is the primary one: NaN first, then descending
    return np.lexsort((-np.where(nan, 0.0, values), ~nan))


def tie_blocks(sorted_scores: np.ndarray) -> np.ndarray:
    """Block id of each position of a descending score list; equal scores share one.

    Args:
        sorted_scores (np.ndarray): [P] scores already ranked.

    Returns:
        np.ndarray: [P] int64, 0 for the first block, +1 at every score change.
    """
    s = np.asarray(sorted_scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(s[1:] != s[:-1])]).astype(np.int64)


def count_ties(scores: np.ndarray) -> Tuple[int, int]:
    """How many scores equal another one, and in how many groups.

    Args:
        scores (np.ndarray): [P] scores of one class (any order).

    Returns:
        (num_tied, num_groups): detections sharing their score with at least one other
        detection, and the number of distinct tied values.
    """
    _, counts = np.unique(np.asarray(scores, dtype=np.float64), return_counts=True)
    tied = counts[counts > 1]
    return int(tied.sum()), int(tied.size)
