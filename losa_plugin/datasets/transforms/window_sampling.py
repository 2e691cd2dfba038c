"""Choosing temporal windows of an untrimmed video: the one place this logic lives.

Both the pre-extracted-feature pipeline (:class:`RandomTruncateFeature`, the dataset's
test windows) and the raw-video pipeline call these pure functions. Units are whatever
grid the caller works in (feature steps, or frames); the functions never see seconds.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np


def _check_len(name: str, value: int, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f'{name} must be an integer >= {minimum}, got {value!r}')
    return int(value)


def kept_fraction(segments: np.ndarray, start: float, length: float,
                  offset: float = 0.0) -> np.ndarray:
    """Fraction of each segment inside the window ``[start - offset, start + length +
    offset]``, ``[N]``; 0 for zero-length segments (ActionFormer's 0 / 0 never passes
    its threshold)."""
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    inter = (np.minimum(segments[:, 1], start + length + offset)
             - np.maximum(segments[:, 0], start - offset)).clip(min=0)
    return inter / np.maximum(segments[:, 1] - segments[:, 0], 1e-6)


def truncate_segments(segments: np.ndarray, start: float, length: float,
                      trunc_thresh: float = 0.5,
                      offset: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
    """ActionFormer's rule for the ground truth of a cropped window
    (``truncate_feats``): a segment is kept when at least ``trunc_thresh`` of it lies
    inside the window widened by ``offset`` steps each side, and is clipped to that
    widened window.

    Args:
        segments (np.ndarray): ``[N, 2]`` in the caller's grid (same as ``start``).
        start (float): first step of the window. length (float): its steps.
        trunc_thresh (float): minimum kept fraction. Default 0.5.
        offset (float): widening each side, in steps (ActionFormer: half a
            feature's frame span over the stride, 2 for THUMOS-14 I3D). Default 0.

    Returns:
        tuple: ``keep [N]`` bool and the kept segments ``[K, 2]`` clipped to
        ``[start - offset, start + length + offset]`` (still absolute, not shifted).
    """
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    keep = kept_fraction(segments, start, length, offset) >= trunc_thresh
    clipped = segments[keep].clip(start - offset, start + length + offset)
    return keep, clipped


def sample_train_window(total_len: int,
                        window_len: int,
                        segments: np.ndarray,
                        rng: np.random.Generator,
                        trunc_thresh: float = 0.5,
                        crop_ratio: Optional[Sequence[float]] = None,
                        max_tries: int = 200,
                        offset: float = 0.0) -> Tuple[int, int]:
    """Pick a random training window that keeps some ground truth (ActionFormer's
    random truncation, written afresh).

    * ``total_len > window_len``: a window of ``window_len`` steps at a random start.
    * ``total_len <= window_len``: the whole sequence; with ``crop_ratio=(lo, hi)`` a
      random shorter window of ``randint(max(round(lo * total_len), 1),
      min(round(hi * total_len), total_len))`` steps instead (Python's ``round``, as
      ActionFormer; cropping applies only to sequences that fit).

    A start is accepted when at least one segment has a fraction ``>= trunc_thresh`` of
    its length inside the window widened by ``offset`` steps each side
    (:func:`kept_fraction`); after ``max_tries`` rejected starts the last one is used.
    Without segments the first random start is used. Which segments the window then
    keeps is :func:`truncate_segments` (same rule).

    Args:
        total_len (int): steps in the sequence (>= 1).
        window_len (int): maximum window length in steps (>= 1).
        segments (np.ndarray): [N, 2] ground truth (start, end) in the same units;
            N may be 0.
        rng (np.random.Generator): source of randomness.
        trunc_thresh (float): minimum kept fraction of one segment. Default 0.5.
        crop_ratio (Sequence[float] | None): (lo, hi) for random shorter windows on
            sequences that already fit. Default None (no cropping).
        max_tries (int): random starts tried before giving up. Default 200.
        offset (float): widening of the window each side for the kept fraction.
            Default 0.

    Returns:
        (start, length): the window ``[start, start + length)``, with
        ``0 <= start`` and ``start + length <= total_len``.
    """
    total_len = _check_len('total_len', total_len, 1)
    window_len = _check_len('window_len', window_len, 1)
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    length = min(window_len, total_len)
    if total_len <= window_len and crop_ratio is not None:
        lo, hi = crop_ratio
        if not 0 < lo <= hi <= 1:
            raise ValueError(f'crop_ratio must satisfy 0 < lo <= hi <= 1, got {crop_ratio!r}')
        low = max(round(lo * total_len), 1)
        high = max(low, min(round(hi * total_len), total_len))
        length = int(rng.integers(low, high + 1))
    if length == total_len:
        return 0, total_len

    start = 0
    for _ in range(max(1, max_tries)):
        start = int(rng.integers(0, total_len - length + 1))
        if len(segments) == 0:
            break
        if np.any(kept_fraction(segments, start, length, offset) >= trunc_thresh):
            break
    return start, length


def sliding_windows(total_len: int, window_len: int,
                    overlap: float = 0.0) -> List[Tuple[int, int]]:
    """Windows that together cover every step of a sequence.

    Consecutive windows start ``max(1, round(window_len * (1 - overlap)))`` steps
    apart; the last window is aligned to the end of the sequence, so every window
    but a lone short one has exactly ``window_len`` steps.

    Args:
        total_len (int): steps in the sequence (>= 1).
        window_len (int): steps per window (>= 1).
        overlap (float): fraction of a window shared with the next, in [0, 1).

    Returns:
        list of (start, length), starts ascending. A sequence no longer than a window
        gives ``[(0, total_len)]``.
    """
    total_len = _check_len('total_len', total_len, 1)
    window_len = _check_len('window_len', window_len, 1)
    if not 0 <= overlap < 1:
        raise ValueError(f'overlap must be in [0, 1), got {overlap!r}')
    if total_len <= window_len:
        return [(0, total_len)]
    stride = max(1, int(round(window_len * (1 - overlap))))
    last = total_len - window_len
    starts = list(range(0, last, stride))
    starts.append(last)
    return [(s, window_len) for s in starts]
