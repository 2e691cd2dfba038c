"""Gradient reversal (Ganin & Lempitsky, 2015): the identity going forward, the gradient
multiplied by ``-scale`` going back.

Put between a feature extractor and an adversary trained to read some nuisance from the
features, it lets one loss train both: the adversary descends the loss (it learns to read
the nuisance) while the extractor ascends it (it learns to remove the nuisance).
"""
import torch
from torch import Tensor


class _GradientReversal(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: Tensor, scale: float = 1.0) -> Tensor:
    """``x`` unchanged (any shape); its gradient is ``-scale`` times the incoming one.

    Args:
        x: any tensor.
        scale: the reversal's strength (>= 0; 0 cuts the gradient).
    """
    if scale < 0:
        raise ValueError(f'reverse_gradient: scale must be >= 0, got {scale} (a negative '
                         'scale would let the gradient through un-reversed)')
    return _GradientReversal.apply(x, float(scale))
