"""1-D convolution over masked (padded) sequences, in ActionFormer's two readings of
the padding."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmaction.registry import MODELS


def as_time_mask(mask: torch.Tensor, batch: int, length: int, where: str) -> torch.Tensor:
    """Normalise a validity mask to ``[B, T]`` bool.

    Args:
        mask (Tensor): ``[B, T]`` or ``[B, 1, T]``, bool or 0/1.
        batch (int): expected B.
        length (int): expected T.
        where (str): caller name used in the error message.
    """
    if mask.dim() == 3 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.dim() != 2 or tuple(mask.shape) != (batch, length):
        raise ValueError(f'{where}: mask must be [B, T] or [B, 1, T] with B={batch}, '
                         f'T={length}; got {tuple(mask.shape)}')
    return mask.bool()


def input_mask(mask: torch.Tensor, pad_mask: Optional[torch.Tensor], where: str) -> torch.Tensor:
    """The steps a kernel reads as they are: ``pad_mask`` when given (a superset of
    the valid steps; the head checks that once), else the validity mask itself. Both
    ``[B, T]`` bool."""
    if pad_mask is None:
        return mask
    return as_time_mask(pad_mask, mask.shape[0], mask.shape[1], where)


@MODELS.register_module()
class MaskedConv1D(nn.Module):
    """``nn.Conv1d`` over ``[B, C, T]`` whose output is zero at padded steps.

    What the kernel reads at padded steps is set by ``pad_mask`` (see
    :class:`ActionFormerHead`, ``padding``): steps outside ``pad_mask`` read as zero
    (like the conv's own zero padding); steps inside it are read as they are. With
    ``pad_mask=None`` (= ``mask``) padding never reaches a valid output
    (padding-invariant); with ``pad_mask`` = "inside the padded array" this is
    ActionFormer's MaskedConv1D, which does not mask its input.

    A stride ``s > 1`` keeps every ``s``-th step: output step ``i`` is centred on input
    step ``s * i`` and its mask is ``mask[:, ::s]``; T must be divisible by ``s``.

    Args:
        in_channels (int): input channels C_in.
        out_channels (int): output channels C_out.
        kernel_size (int): odd kernel size; padding is ``kernel_size // 2``.
        stride (int): temporal stride. Defaults to 1.
        groups (int): conv groups (``in_channels`` for depthwise). Defaults to 1.
        bias (bool): add a bias (zero-initialised). Defaults to True.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'MaskedConv1D: kernel_size must be odd (centred outputs), '
                             f'got {kernel_size}')
        self.stride = stride
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=kernel_size // 2, groups=groups, bias=bias)
        if bias:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                pad_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            x (Tensor): ``[B, C_in, T]``.
            mask (Tensor): ``[B, T]`` or ``[B, 1, T]`` bool, True = valid.
            pad_mask (Tensor, optional): ``[B, T]`` bool, the steps the kernel reads as
                they are (a superset of ``mask``); the others read as zero. None means
                ``mask``.

        Returns:
            tuple: ``out [B, C_out, T // stride]`` (zero at padded steps) and its mask
            ``[B, T // stride]`` bool.
        """
        b, _, t = x.shape
        mask = as_time_mask(mask, b, t, 'MaskedConv1D')
        if t % self.stride:
            raise ValueError(f'MaskedConv1D: length T={t} is not divisible by stride '
                             f'{self.stride}')
        readable = input_mask(mask, pad_mask, 'MaskedConv1D')
        out = self.conv(x * readable[:, None].to(x.dtype))
        out_mask = mask[:, ::self.stride]
        return out * out_mask[:, None].to(out.dtype), out_mask
