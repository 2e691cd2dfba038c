"""LayerNorm over the channel axis of ``[B, C, T]`` sequences."""
import torch
import torch.nn as nn
from einops import rearrange
from mmaction.registry import MODELS


@MODELS.register_module()
class ChannelLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` applied per time step to channel-first ``[B, C, T]`` inputs.

    Args:
        num_channels (int): C.
        eps (float): Defaults to 1e-5.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, T] -> [B, C, T]``."""
        x = super().forward(rearrange(x, 'b c t -> b t c'))
        return rearrange(x, 'b t c -> b c t')
