"""ActionFormer's post-processing of one window's candidates: per-class or
class-agnostic (soft-)NMS, and score voting weighted by score x tIoU."""
from typing import Tuple

import torch
from torch import Tensor

from losa_plugin.utils.segment_ops import (_single_class_nms, batched_segment_nms,
                                           pairwise_tiou)


def score_iou_voting(kept: Tensor, candidates: Tensor, candidate_scores: Tensor,
                     voting_thresh: float) -> Tensor:
    """Refine segments by voting, with ActionFormer's weights.

    Each kept segment becomes the weighted mean of the candidates whose tIoU with it
    is ``>= voting_thresh``, candidate ``j`` weighing ``score_j * tIoU(kept, j)``. A kept
    segment without any weight (no voter, or voters scoring 0) is left unchanged.

    Args:
        kept (Tensor): ``[K, 2]`` segments after NMS.
        candidates (Tensor): ``[N, 2]`` segments before NMS.
        candidate_scores (Tensor): ``[N]`` their scores before NMS.
        voting_thresh (float): tIoU a candidate needs to vote.

    Returns:
        Tensor: ``[K, 2]`` refined segments, dtype of ``kept``.
    """
    if kept.numel() == 0 or candidates.numel() == 0:
        return kept
    cand = candidates.to(torch.float64)
    tiou = pairwise_tiou(kept.to(torch.float64), cand)  # [K, N]
    weights = (tiou >= voting_thresh).to(torch.float64) * tiou \
        * candidate_scores.to(torch.float64)[None]
    total = weights.sum(dim=1, keepdim=True)
    refined = (weights @ cand) / total.clamp(min=torch.finfo(torch.float64).tiny)
    return torch.where(total > 0, refined, kept.to(torch.float64)).to(kept.dtype)


def actionformer_nms(segments: Tensor, scores: Tensor, labels: Tensor, *,
                     method: str = 'soft', iou_threshold: float = 0.1, sigma: float = 0.5,
                     min_score: float = 1e-3, max_num: int = 200, multiclass: bool = True,
                     voting_thresh: float = 0.0) -> Tuple[Tensor, Tensor, Tensor]:
    """NMS of one window's candidates, as ActionFormer's ``batched_nms``.

    * ``multiclass=True`` (ActionFormer on THUMOS-14): each class is suppressed on its
      own. ActionFormer never votes in this mode; here ``voting_thresh > 0`` votes
      among the class's own candidates (an option, off in the shipped configs).
    * ``multiclass=False`` (ActionFormer on ActivityNet-v1.3): one suppression over all
      classes (labels ride along), then, with ``voting_thresh > 0``, score x tIoU voting
      (:func:`score_iou_voting`) among all candidates.

    Suppression itself is ``mmcv.ops`` (:mod:`losa_plugin.utils.segment_ops`): candidates
    below ``min_score`` are dropped first and after soft-NMS decay.

    Args:
        segments (Tensor): ``[N, 2]``; scores (Tensor): ``[N]``; labels (Tensor): ``[N]``.
        method (str): ``'soft'`` (Gaussian), ``'linear'``, ``'hard'`` or ``'none'``.
        iou_threshold (float): tIoU threshold of hard / linear NMS.
        sigma (float): Gaussian soft-NMS width.
        min_score (float): score floor.
        max_num (int): keep at most this many (best first); -1 keeps all.
        multiclass (bool): per-class (True) or class-agnostic (False) suppression.
        voting_thresh (float): tIoU of voters; 0 disables voting.

    Returns:
        tuple: ``segments [K, 2]``, ``scores [K]``, ``labels [K]``, best first.
    """
    if multiclass:
        segs, out_scores, out_labels = batched_segment_nms(
            segments, scores, labels, iou_threshold, method=method, sigma=sigma,
            min_score=min_score, max_num=max_num, voting_thresh=0.0)
        if voting_thresh > 0:
            segs = segs.clone()
            for cls in torch.unique(out_labels).tolist():
                rows, voters = out_labels == cls, labels == cls
                segs[rows] = score_iou_voting(segs[rows], segments[voters], scores[voters],
                                              voting_thresh)
        return segs, out_scores, out_labels

    keep = scores >= min_score
    segs_v, scores_v, labels_v = segments[keep], scores[keep], labels[keep]
    inds, new_scores = _single_class_nms(segs_v, scores_v, iou_threshold, method, sigma,
                                         min_score)
    inds = inds.to(segs_v.device)
    valid = new_scores >= min_score
    inds, new_scores = inds[valid], new_scores[valid]
    segs, out_labels = segs_v[inds], labels_v[inds]
    if voting_thresh > 0:
        segs = score_iou_voting(segs, segments, scores, voting_thresh)
    order = torch.sort(new_scores, descending=True, stable=True).indices
    if max_num > 0:
        order = order[:max_num]
    return segs[order], new_scores[order], out_labels[order]
