"""1-D Distance-IoU loss on centre-relative offsets."""
from typing import Optional

import torch
import torch.nn as nn
from mmaction.registry import MODELS


def diou_loss_1d(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """DIoU loss of 1-D segments given as distances from a shared point.

    A segment is ``[t - l, t + r]`` with ``(l, r) >= 0``. With ``I``/``U`` the
    intersection/union lengths, ``E`` the enclosing length and ``rho`` the distance of
    the two centres: ``loss = 1 - I / U + (rho / E) ** 2``.

    Args:
        pred (Tensor): ``[N, 2]`` predicted (left, right) distances, >= 0.
        target (Tensor): ``[N, 2]`` target (left, right) distances, >= 0.
        eps (float): guards the divisions. Defaults to 1e-8.

    Returns:
        Tensor: ``[N]`` losses in ``[0, 2)``.
    """
    if pred.shape != target.shape or pred.shape[-1] != 2:
        raise ValueError(f'diou_loss_1d: pred and target must both be [N, 2], got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')
    pred, target = pred.float(), target.float()
    lp, rp = pred.unbind(-1)
    lg, rg = target.unbind(-1)
    inter = torch.minimum(lp, lg) + torch.minimum(rp, rg)
    union = (lp + rp) + (lg + rg) - inter
    iou = inter / union.clamp(min=eps)
    enclose = torch.maximum(lp, lg) + torch.maximum(rp, rg)
    rho = 0.5 * ((rp - lp) - (rg - lg))  # centre of [t-l, t+r] is t + (r-l)/2
    return 1.0 - iou + (rho / enclose.clamp(min=eps)) ** 2


@MODELS.register_module()
class DIoULoss1D(nn.Module):
    """Registered wrapper of :func:`diou_loss_1d`.

    Args:
        reduction (str): 'none' | 'mean' | 'sum'. Defaults to 'sum'.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        eps (float): Defaults to 1e-8.
    """

    def __init__(self, reduction: str = 'sum', loss_weight: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f"DIoULoss1D: reduction must be 'none', 'mean' or 'sum', "
                             f'got {reduction!r}')
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                avg_factor: Optional[float] = None) -> torch.Tensor:
        """
        Args:
            pred (Tensor): ``[N, 2]`` predicted offsets.
            target (Tensor): ``[N, 2]`` target offsets.
            avg_factor (float, optional): divides the summed loss (after reduction).

        Returns:
            Tensor: scalar (or ``[N]`` with reduction 'none').
        """
        loss = diou_loss_1d(pred, target, self.eps)
        if self.reduction == 'sum':
            loss = loss.sum()
        elif self.reduction == 'mean':
            loss = loss.mean() if loss.numel() else loss.sum()
        if avg_factor is not None:
            loss = loss / avg_factor
        return self.loss_weight * loss
