"""Operations on 1-D temporal segments ``[start, end]``: tIoU, class-wise (soft-)NMS on
top of ``mmcv.ops`` and score voting. Used by the ActionFormer head (per window) and by
the TAL metric (across the windows of a video).

A segment ``[s, e]`` is handed to mmcv as the box ``[s, 0, e, 1]`` with ``offset=0``,
so its box IoU is exactly the segment tIoU.
"""
from typing import Tuple

import numpy as np
import torch
from torch import Tensor

NMS_METHODS = ('soft', 'linear', 'hard', 'none')


def pairwise_tiou(a: Tensor, b: Tensor) -> Tensor:
    """Temporal IoU of every segment of ``a`` with every segment of ``b``.

    Args:
        a (Tensor): [N, 2] segments ``(start, end)``.
        b (Tensor): [M, 2] segments, same units as ``a``.

    Returns:
        Tensor: [N, M] tIoU; 0 where the union is empty (two zero-length segments).
    """
    _check_segments(a, 'a')
    _check_segments(b, 'b')
    inter = (torch.minimum(a[:, None, 1], b[None, :, 1]) -
             torch.maximum(a[:, None, 0], b[None, :, 0])).clamp(min=0)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    nonempty = union > 0
    return torch.where(nonempty, inter / torch.where(nonempty, union, torch.ones_like(union)),
                       torch.zeros((), dtype=torch.result_type(inter, 1.0), device=inter.device))


def pairwise_tiou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Numpy twin of :func:`pairwise_tiou` with the ActivityNet evaluator's arithmetic.

    The expression (intersection / (len_b + len_a - intersection), float64) is the one
    the official evaluator uses, so thresholds and ties fall identically. An empty
    union gives NaN, as there.

    Args:
        a (np.ndarray): [N, 2] segments. b (np.ndarray): [M, 2] segments.

    Returns:
        np.ndarray: [N, M] float64 tIoU.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    inter = (np.minimum(a[:, None, 1], b[None, :, 1]) -
             np.maximum(a[:, None, 0], b[None, :, 0])).clip(0)
    union = (b[:, 1] - b[:, 0])[None, :] + (a[:, 1] - a[:, 0])[:, None] - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return inter / union


def _check_segments(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'{name}: expected a [N, 2] tensor of (start, end), got {shape}')


def segment_voting(kept: Tensor, candidates: Tensor, candidate_scores: Tensor,
                   voting_thresh: float) -> Tensor:
    """Refine segment bounds by score voting (ActionFormer style).

    Each kept segment becomes the score-weighted mean of the candidates whose tIoU with
    it is >= ``voting_thresh``. A kept segment whose voters all score 0 is unchanged.

    Args:
        kept (Tensor): [K, 2] segments after NMS.
        candidates (Tensor): [N, 2] segments before NMS (same class).
        candidate_scores (Tensor): [N] their scores before NMS.
        voting_thresh (float): tIoU a candidate needs to vote.

    Returns:
        Tensor: [K, 2] refined segments, dtype of ``kept``.
    """
    if kept.numel() == 0 or candidates.numel() == 0:
        return kept
    cand = candidates.to(torch.float64)
    tiou = pairwise_tiou(kept.to(torch.float64), cand)
    weights = (tiou >= voting_thresh).to(torch.float64) * candidate_scores.to(torch.float64)[None]
    total = weights.sum(dim=1, keepdim=True)
    refined = (weights @ cand) / total.clamp(min=torch.finfo(torch.float64).tiny)
    return torch.where(total > 0, refined, kept.to(torch.float64)).to(kept.dtype)


def _single_class_nms(segments: Tensor, scores: Tensor, iou_threshold: float, method: str,
                      sigma: float, min_score: float) -> Tuple[Tensor, Tensor]:
    """NMS of one class. Returns (kept indices [K] into the inputs, their scores [K])."""
    if method == 'none' or segments.shape[0] == 0:
        return torch.arange(segments.shape[0]), scores
    from mmcv.ops import nms, soft_nms  # compiled extension: import on first use only

    # mmcv's CPU kernels are float32; the kept indices let us return the inputs' own
    # (possibly float64) bounds.
    seg32 = segments.detach().to('cpu', torch.float32)
    boxes = torch.stack([seg32[:, 0], torch.zeros_like(seg32[:, 0]),
                         seg32[:, 1], torch.ones_like(seg32[:, 0])], dim=1)
    sc32 = scores.detach().to('cpu', torch.float32).contiguous()
    if method == 'hard':
        _, inds = nms(boxes, sc32, float(iou_threshold), offset=0)
        return inds, scores[inds.to(scores.device)]
    kernel = 'gaussian' if method == 'soft' else 'linear'
    dets, inds = soft_nms(boxes, sc32, float(iou_threshold), sigma=float(sigma),
                          min_score=float(min_score), method=kernel, offset=0)
    return inds, dets[:, 4].to(scores.device, scores.dtype)


def batched_segment_nms(segments: Tensor,
                        scores: Tensor,
                        labels: Tensor,
                        iou_threshold: float,
                        method: str = 'soft',
                        sigma: float = 0.5,
                        min_score: float = 1e-3,
                        max_num: int = -1,
                        voting_thresh: float = 0.0) -> Tuple[Tensor, Tensor, Tensor]:
    """Class-wise 1-D NMS of temporal segments.

    Segments scoring below ``min_score`` are dropped first; each class is then
    suppressed on its own with ``mmcv.ops``:

    * ``'soft'``: Gaussian soft-NMS, every other segment's score is multiplied by
      ``exp(-tiou**2 / sigma)`` (``iou_threshold`` unused); segments decayed below
      ``min_score`` drop out.
    * ``'linear'``: linear soft-NMS, scores multiplied by ``1 - tiou`` where
      ``tiou >= iou_threshold``.
    * ``'hard'``: classic NMS, a segment is removed when ``tiou > iou_threshold`` with a
      higher-scoring kept one.
    * ``'none'``: no suppression (``min_score`` and ``max_num`` still apply).

    Args:
        segments (Tensor): [N, 2] ``(start, end)``, any unit.
        scores (Tensor): [N] confidence.
        labels (Tensor): [N] int class ids.
        iou_threshold (float): tIoU threshold (see the methods above).
        method (str): ``'soft'`` | ``'linear'`` | ``'hard'`` | ``'none'``. Default 'soft'.
        sigma (float): Gaussian width for ``'soft'``. Default 0.5.
        min_score (float): drop segments (before and after decay) below it. Default 1e-3.
        max_num (int): keep at most this many over all classes; -1 keeps all.
        voting_thresh (float): when > 0, each kept segment's bounds become the
            score-weighted mean of the class's segments before NMS with tIoU >= it.

    Returns:
        tuple: ``segments [K, 2]``, ``scores [K]`` (decayed for soft-NMS), ``labels [K]``,
        sorted by score, descending; on the inputs' device and dtypes.
    """
    _check_segments(segments, 'segments')
    if scores.shape != (segments.shape[0], ) or labels.shape != (segments.shape[0], ):
        raise ValueError(f'batched_segment_nms: scores {tuple(scores.shape)} and labels '
                         f'{tuple(labels.shape)} must both be [N] with N = '
                         f'{segments.shape[0]} (segments {tuple(segments.shape)})')
    if method not in NMS_METHODS:
        raise ValueError(f'batched_segment_nms: method {method!r} is not one of {NMS_METHODS}')

    out_segs, out_scores, out_labels = [], [], []
    keep = scores >= min_score
    segs_v, scores_v, labels_v = segments[keep], scores[keep], labels[keep]
    for cls in torch.unique(labels_v).tolist():
        in_cls = labels_v == cls
        segs_c, scores_c = segs_v[in_cls], scores_v[in_cls]
        inds, new_scores = _single_class_nms(segs_c, scores_c, iou_threshold, method, sigma,
                                              min_score)
        inds = inds.to(segs_c.device)
        valid = new_scores >= min_score
        inds, new_scores = inds[valid], new_scores[valid]
        kept = segs_c[inds]
        if voting_thresh > 0:
            kept = segment_voting(kept, segments[labels == cls], scores[labels == cls],
                                  voting_thresh)
        out_segs.append(kept)
        out_scores.append(new_scores)
        out_labels.append(labels_v.new_full((len(inds), ), cls))
    if not out_segs:
        return segments[:0], scores[:0], labels[:0]
    segs_all, scores_all, labels_all = (torch.cat(out_segs), torch.cat(out_scores),
                                        torch.cat(out_labels))
    order = torch.sort(scores_all, descending=True, stable=True).indices
    if max_num > 0:
        order = order[:max_num]
    return segs_all[order], scores_all[order], labels_all[order]
