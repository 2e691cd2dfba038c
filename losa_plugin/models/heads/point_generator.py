"""Anchor points of a 1-D feature pyramid."""
from typing import List, Sequence

import torch
from mmaction.registry import TASK_UTILS


@TASK_UTILS.register_module()
class PointGenerator1D:
    """One point per step of every pyramid level, in grid units of level 0.

    Point ``i`` of level ``l`` sits at ``i * strides[l]`` and may regress segments whose
    larger boundary distance lies within ``regress_ranges[l]``.

    Args:
        strides (Sequence[int]): stride of each level w.r.t. level 0, e.g. (1, 2, …, 32).
        regress_ranges (Sequence[tuple[float, float]]): (min, max) per level.
    """

    def __init__(self, strides: Sequence[int], regress_ranges: Sequence[Sequence[float]]) -> None:
        if len(strides) != len(regress_ranges):
            raise ValueError(f'PointGenerator1D: {len(strides)} strides but '
                             f'{len(regress_ranges)} regress_ranges; need one per level')
        for rr in regress_ranges:
            if len(rr) != 2 or rr[0] > rr[1]:
                raise ValueError(f'PointGenerator1D: each regress range must be (min, max) '
                                 f'with min <= max, got {rr}')
        self.strides = [int(s) for s in strides]
        self.regress_ranges = [(float(a), float(b)) for a, b in regress_ranges]

    def __call__(self, lengths: Sequence[int], device: torch.device = torch.device('cpu')
                 ) -> List[torch.Tensor]:
        """
        Args:
            lengths (Sequence[int]): L_l of each level.
            device: where to build the points.

        Returns:
            list[Tensor]: per level ``[L_l, 4]`` rows ``(position, range_min, range_max,
            stride)``.
        """
        if len(lengths) != len(self.strides):
            raise ValueError(f'PointGenerator1D: got {len(lengths)} levels, configured '
                             f'for {len(self.strides)}')
        points = []
        for n, stride, (lo, hi) in zip(lengths, self.strides, self.regress_ranges):
            pos = torch.arange(n, device=device, dtype=torch.float32) * stride
            pts = torch.stack([pos, torch.full_like(pos, lo), torch.full_like(pos, hi),
                               torch.full_like(pos, float(stride))], dim=1)
            points.append(pts)
        return points
