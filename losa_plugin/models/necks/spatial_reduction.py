"""Per-layer spatial reduction block (Figure 2's convolutional block)."""
from typing import Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from mmengine.logging import print_log
from torch import nn


class SpatialReduction(nn.Module):
    """Reduce one tapped layer's space: ``[B, T, T_i, H_i, W_i, C_i] -> [B, T, T_i, C]``
    (``C`` = ``out_channels``, which may equal ``C_i``).

    ``mode='conv'`` (default): a depthwise 3D convolution over space (kernel
    ``(1, k, k)``, so time stays per token), GELU, spatial mean, added to the plain
    spatial mean (the residual keeps the pooled content at any conv init); then a
    channel projection ``C_i -> C`` where they differ and a LayerNorm over ``C``.
    The nonlinearity sits before the mean because a linear conv followed by a mean
    would collapse into a per-channel scaling of the mean. Parameters:
    ``C_i * (k^2 + 1)`` + projection + ``2C``.

    ``mode='mean'``: the spatial mean, then the projection and the LayerNorm (if
    ``norm``); with ``C_i == C`` and ``norm=False`` it is parameter-free.

    Already-reduced input ``[B, T, T_i, C_i]`` skips the spatial part (a backbone that
    streams the reduction has taken the mean already); the conv then has nothing to do
    and stays unused (log a warning once: set ``mode='mean'`` for such backbones).

    Args:
        in_channels (int): ``C_i``.
        out_channels (int): output width: ``C``, the neck's, or ``C_i`` itself (no
            projection; the LoSA neck's ``adapter_width='tap'``).
        mode (str): ``'conv'`` or ``'mean'``. Defaults to ``'conv'``.
        kernel_size (int): spatial kernel of the depthwise conv, odd. Defaults to 3.
        norm (bool): LayerNorm on the output. Defaults to True.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = 'conv',
                 kernel_size: int = 3, norm: bool = True) -> None:
        super().__init__()
        if mode not in ('conv', 'mean'):
            raise ValueError(f"SpatialReduction: mode must be 'conv' or 'mean', got {mode!r}")
        if kernel_size % 2 != 1:
            raise ValueError(f'SpatialReduction: kernel_size must be odd, got {kernel_size}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.mode = mode
        self.conv: Optional[nn.Conv3d] = None
        if mode == 'conv':
            self.conv = nn.Conv3d(in_channels, in_channels, (1, kernel_size, kernel_size),
                                  padding=(0, kernel_size // 2, kernel_size // 2),
                                  groups=in_channels)
        self.proj = (nn.Linear(in_channels, out_channels)
                     if in_channels != out_channels else nn.Identity())
        self.norm = nn.LayerNorm(out_channels) if norm else nn.Identity()
        self._warned_reduced = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): ``[B, T, T_i, H_i, W_i, C_i]`` or ``[B, T, T_i, C_i]``.

        Returns:
            Tensor: ``[B, T, T_i, C]`` in the parameters' dtype (input may be bf16).
        """
        if x.shape[-1] != self.in_channels:
            raise ValueError(f'SpatialReduction: expected {self.in_channels} channels '
                             f'(last dim), got shape {tuple(x.shape)}')
        dtype = self.norm.weight.dtype if isinstance(self.norm, nn.LayerNorm) else (
            self.proj.weight.dtype if isinstance(self.proj, nn.Linear) else torch.float32)
        if x.dim() == 6:
            b, t = x.shape[:2]
            pooled = x.mean(dim=(3, 4), dtype=dtype)
            if self.conv is not None:
                # channels-last in memory -> this view is channels_last_3d, no copy.
                y = rearrange(x, 'b t ti h w c -> (b t) c ti h w')
                # Run the conv in the taps' dtype: casting bf16 taps up to the weights'
                # fp32 would keep an fp32 copy of every tap for the backward pass.
                w, bias = self.conv.weight, self.conv.bias
                if not torch.is_autocast_enabled(y.device.type) and y.dtype != w.dtype:
                    w, bias = w.to(y.dtype), None if bias is None else bias.to(y.dtype)
                y = F.conv3d(y, w, bias, self.conv.stride, self.conv.padding,
                             self.conv.dilation, self.conv.groups)
                y = F.gelu(y).mean(dim=(3, 4), dtype=dtype)
                pooled = pooled + rearrange(y, '(b t) c ti -> b t ti c', b=b, t=t)
        elif x.dim() == 4:
            pooled = x.to(dtype)
            if self.conv is not None and not self._warned_reduced:
                print_log('SpatialReduction: input is already spatially reduced; the '
                          "depthwise conv is skipped (use mode='mean' for such taps)",
                          logger='current', level=30)
                self._warned_reduced = True
        else:
            raise ValueError('SpatialReduction: expected [B, T, T_i, H_i, W_i, C_i] or '
                             f'[B, T, T_i, C_i], got shape {tuple(x.shape)}')
        return self.norm(self.proj(pooled))
