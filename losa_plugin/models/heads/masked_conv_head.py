"""Shared conv tower + output conv applied to every pyramid level."""
from typing import Optional

import torch
import torch.nn as nn
from mmaction.registry import MODELS

from .channel_layer_norm import ChannelLayerNorm
from .masked_conv1d import MaskedConv1D


@MODELS.register_module()
class MaskedConvHead(nn.Module):
    """``num_layers - 1`` × (MaskedConv1D → LayerNorm → ReLU), then an output
    MaskedConv1D. The same weights serve every pyramid level.

    Args:
        in_channels (int): C_in.
        feat_channels (int): width of the tower.
        out_channels (int): C_out (classes, or 2 for offsets).
        num_layers (int): layers including the output conv. Defaults to 3.
        kernel_size (int): Defaults to 3.
        with_ln (bool): LayerNorm in the tower. Defaults to True.
        out_bias (float, optional): initial bias of the output conv (e.g. the focal
            loss prior ``-log((1 - p) / p)``); None keeps zero. Defaults to None.
    """

    def __init__(self, in_channels: int, feat_channels: int, out_channels: int,
                 num_layers: int = 3, kernel_size: int = 3, with_ln: bool = True,
                 out_bias: Optional[float] = None) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'MaskedConvHead: num_layers must be >= 1, got {num_layers}')
        self.tower = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(num_layers - 1):
            self.tower.append(MaskedConv1D(in_channels if i == 0 else feat_channels,
                                           feat_channels, kernel_size, bias=not with_ln))
            self.norms.append(ChannelLayerNorm(feat_channels) if with_ln else nn.Identity())
        self.out_conv = MaskedConv1D(feat_channels if num_layers > 1 else in_channels,
                                     out_channels, kernel_size)
        self.out_bias = out_bias
        self.reset_out_bias()
        self.act = nn.ReLU()

    def reset_out_bias(self) -> None:
        """(Re)apply ``out_bias``; called again after generic weight init."""
        if self.out_bias is not None:
            nn.init.constant_(self.out_conv.conv.bias, self.out_bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                pad_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x [B, C_in, T]``, ``mask [B, T]`` → ``[B, C_out, T]`` (zero at padding).

        ``pad_mask [B, T]`` (optional): the steps each conv reads as they are
        (:class:`MaskedConv1D`): with it, a padded step holds ``relu(LayerNorm(0))``
        (the norm's bias) when the next conv reads it, as in ActionFormer.
        """
        for conv, norm in zip(self.tower, self.norms):
            x, _ = conv(x, mask, pad_mask)
            x = self.act(norm(x))
        return self.out_conv(x, mask, pad_mask)[0]
