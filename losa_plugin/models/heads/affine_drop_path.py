"""Per-channel residual scale (LayerScale) followed by stochastic depth."""
import torch
import torch.nn as nn
from mmcv.cnn.bricks.drop import DropPath
from mmaction.registry import MODELS


@MODELS.register_module()
class AffineDropPath(nn.Module):
    """``drop_path(scale * x)`` for residual branches of ``[B, C, T]`` tensors, with a
    learnable per-channel ``scale`` (LayerScale) initialised small so that each block
    starts close to the identity. Named ``scale`` as in ActionFormer, whose optimizer
    (and the schedules here, key ``'.scale'``) exempts it from weight decay.

    Args:
        num_channels (int): C.
        drop_prob (float): stochastic depth rate. Defaults to 0.0.
        init_value (float): initial ``scale``. Defaults to 1e-4.
    """

    def __init__(self, num_channels: int, drop_prob: float = 0.0, init_value: float = 1e-4) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, num_channels, 1), float(init_value)))
        self.drop_path = DropPath(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, T] -> [B, C, T]``."""
        return self.drop_path(self.scale * x)
