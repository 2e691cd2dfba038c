"""The AP span that the order of tied scores allows: true / false positives first.

Within a block of equal scores any order is as legitimate as another. The pessimistic
order puts false positives first, the optimistic one true positives first. Whether a
detection is a false positive depends on what the ones ranked before it locked, so
both orders are built by re-matching, greedily, block by block (see
:func:`_extreme_block`): detections that can no longer take any ground truth go first
(pessimistic) or last (optimistic); among the others, the next true positive is the
one whose lock makes the most (pessimistic) or fewest (optimistic) others false
positives.

Each is an order the evaluator could meet, per class and threshold. It is the extreme
when each tied detection can only take one ground truth (duplicates, jittered copies,
background), which the tests check by brute force over all orders. Where detections
of a block compete for different ground truth the greedy choice need not be the
extreme and can change what later blocks find locked, so the span reported is the
min / max of these orders and the evaluated one: pessimistic <= evaluated <=
optimistic always holds.
"""
from typing import Dict, List, Sequence

import numpy as np

from .interpolated_ap import Candidates, first_free
from .tie_order import tie_blocks


def tie_extreme_flags(candidates: Candidates, sorted_scores: np.ndarray,
                      tiou_thresholds: Sequence[float], num_gt: int,
                      positives_first: bool) -> np.ndarray:
    """True-positive flags of the optimistic / pessimistic order of tied scores.

    Args:
        candidates (list): per ranked prediction, (tIoUs, rows) best first
            (:func:`.interpolated_ap.rank_candidates`).
        sorted_scores (np.ndarray): [P] their scores, descending.
        tiou_thresholds (Sequence[float]): [K].
        num_gt (int): ground truth of the class.
        positives_first (bool): True for the optimistic order.

    Returns:
        np.ndarray: [K, P] float64 1.0 / 0.0 in the re-ordered ranking (the order can
        differ per threshold).
    """
    blocks = tie_blocks(sorted_scores)
    bounds = np.flatnonzero(np.diff(np.concatenate([[-1], blocks, [blocks[-1] + 1]]))
                            if len(blocks) else [])
    tp = np.zeros((len(tiou_thresholds), len(candidates)))
    for k, thr in enumerate(float(t) for t in tiou_thresholds):
        locked = np.zeros(num_gt, dtype=bool)
        flags: List[float] = []
        for start, end in zip(bounds[:-1], bounds[1:]):
            if end - start == 1:  # no tie: the ordinary matching step
                row = first_free(candidates[start], thr, locked)
                if row >= 0:
                    locked[row] = True
                flags.append(float(row >= 0))
                continue
            flags += _extreme_block(candidates, list(range(start, end)), thr, locked,
                                    positives_first)
        tp[k] = flags
    return tp


def _free_rows(candidates, thr: float, locked: np.ndarray) -> List[int]:
    """Unlocked ground truth a prediction could take now (tIoU >= thr), best first."""
    rows = []
    for value, row in zip(*candidates):
        if value < thr:
            break
        if not locked[row]:
            rows.append(row)
    return rows


def _extreme_block(candidates: Candidates, members: List[int], thr: float,
                   locked: np.ndarray, positives_first: bool) -> List[float]:
    """Flags of one block of tied scores in its extreme order; updates ``locked``.

    Each round, detections that cannot take any ground truth are false positives
    whatever follows (locks only grow): the pessimistic order emits them now, the
    optimistic one at the end. Then one detection that can takes its ground truth:
    the one whose lock turns the most (pessimistic) / fewest (optimistic) others into
    false positives, the first in rank order on ties.
    """
    flags: List[float] = []
    deferred = 0
    remaining = members
    while remaining:
        free = [_free_rows(candidates[p], thr, locked) for p in remaining]
        able = [i for i, f in enumerate(free) if f]
        n_unable = len(remaining) - len(able)
        if positives_first:
            deferred += n_unable
        else:
            flags += [0.0] * n_unable
        if not able:
            break
        sole: Dict[int, int] = {}
        for i in able:
            if len(free[i]) == 1:
                sole[free[i][0]] = sole.get(free[i][0], 0) + 1
        kills = [sole.get(free[i][0], 0) - (len(free[i]) == 1) for i in able]
        pick = able[int(np.argmin(kills) if positives_first else np.argmax(kills))]
        locked[free[pick][0]] = True
        flags.append(1.0)
        remaining = [remaining[i] for i in able if i != pick]
    return flags + [0.0] * deferred
