"""Ground truth → per-point targets for 1-D anchor-free detection."""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmaction.registry import TASK_UTILS


@TASK_UTILS.register_module()
class CenterSamplingAssigner1D:
    """Assigns each point a (multi-hot) class target and regression offsets.

    A point at position ``t`` with stride ``s`` is positive for a segment ``[a, b]``
    when (1) it lies strictly inside the segment's centre region
    ``[c - radius*s, c + radius*s]`` ∩ ``[a, b]`` (``c`` the centre), and (2) the
    larger of its distances ``t - a``, ``b - t`` lies within the point's regression
    range (inclusive). When several segments qualify, the shortest wins; segments
    within 1e-3 of that length all set their class (multi-hot), regression follows
    the first shortest one.

    Args:
        num_classes (int): C.
        center_radius (float): centre sampling radius in strides; ``None`` or <= 0
            disables centre sampling (any point inside the segment). Defaults to 1.5.
    """

    def __init__(self, num_classes: int, center_radius: float = 1.5) -> None:
        self.num_classes = num_classes
        self.center_radius = center_radius

    @torch.no_grad()
    def assign(self, points: torch.Tensor, gt_segments: torch.Tensor,
               gt_labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            points (Tensor): ``[P, 4]`` rows ``(position, range_min, range_max, stride)``
                of all levels concatenated.
            gt_segments (Tensor): ``[N, 2]`` (start, end) in grid units.
            gt_labels (Tensor): ``[N]`` int64 in ``[0, num_classes)``.

        Returns:
            tuple: ``cls_targets [P, C]`` float in {0, 1} and ``reg_targets [P, 2]``
            (left, right distances divided by the point's stride; meaningful only where
            ``cls_targets`` has a 1).
        """
        num_pts, num_gts = points.shape[0], gt_segments.shape[0]
        if num_gts == 0:
            return points.new_zeros(num_pts, self.num_classes), points.new_zeros(num_pts, 2)
        if gt_segments.dim() != 2 or gt_segments.shape[1] != 2 or gt_labels.shape != (num_gts,):
            raise ValueError(f'CenterSamplingAssigner1D: gt_segments must be [N, 2] and '
                             f'gt_labels [N]; got {tuple(gt_segments.shape)}, '
                             f'{tuple(gt_labels.shape)}')
        if (gt_segments[:, 1] < gt_segments[:, 0]).any():
            raise ValueError(f'CenterSamplingAssigner1D: segments with end < start: '
                             f'{gt_segments[gt_segments[:, 1] < gt_segments[:, 0]].tolist()}')
        if gt_labels.numel() and (gt_labels.min() < 0 or gt_labels.max() >= self.num_classes):
            raise ValueError(f'CenterSamplingAssigner1D: labels must be in [0, '
                             f'{self.num_classes}), got {gt_labels.tolist()}')
        gt_segments = gt_segments.to(points.dtype)
        pos, lo, hi, stride = (points[:, i:i + 1] for i in range(4))  # each [P, 1]
        start, end = gt_segments[None, :, 0], gt_segments[None, :, 1]  # [1, N]
        left, right = pos - start, end - pos  # [P, N]
        if self.center_radius is not None and self.center_radius > 0:
            center = 0.5 * (start + end)
            c_lo = torch.maximum(center - self.center_radius * stride, start)
            c_hi = torch.minimum(center + self.center_radius * stride, end)
            inside = torch.minimum(pos - c_lo, c_hi - pos) > 0
        else:
            inside = torch.minimum(left, right) > 0
        max_dist = torch.maximum(left, right)
        in_range = (max_dist >= lo) & (max_dist <= hi)
        lens = (end - start).expand(num_pts, num_gts).clone()
        lens[~(inside & in_range)] = float('inf')
        min_len, min_idx = lens.min(dim=1)
        # Near-equal lengths (THUMOS-14 has duplicated actions of different classes).
        chosen = (lens <= min_len[:, None] + 1e-3) & torch.isfinite(lens)
        one_hot = F.one_hot(gt_labels.long(), self.num_classes).to(points.dtype)
        cls_targets = (chosen.to(points.dtype) @ one_hot).clamp_(max=1.0)
        idx = torch.arange(num_pts, device=points.device)
        reg_targets = torch.stack([left[idx, min_idx], right[idx, min_idx]], dim=1) / stride
        return cls_targets, reg_targets
