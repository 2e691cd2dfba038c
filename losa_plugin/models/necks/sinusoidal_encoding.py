"""Fixed sinusoidal encoding of (fractional, possibly negative) temporal positions."""
import math

import torch


def sinusoidal_encoding(positions: torch.Tensor, dim: int,
                        max_period: float = 10000.0) -> torch.Tensor:
    """Encode positions with sines and cosines of geometric frequencies.

    Args:
        positions (Tensor): any shape ``[...]``, float positions in last-layer token
            steps (fractional and negative values are fine: relative offsets).
        dim (int): encoding width, even.
        max_period (float): longest wavelength. Defaults to 10000.

    Returns:
        Tensor: ``[..., dim]`` float32, ``[sin(p * f_k), cos(p * f_k)]``.
    """
    if dim % 2 != 0:
        raise ValueError(f'sinusoidal_encoding: dim must be even, got {dim}')
    half = dim // 2
    freqs = torch.exp(-math.log(max_period)
                      * torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float()[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
