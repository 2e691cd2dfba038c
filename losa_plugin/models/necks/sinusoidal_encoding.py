"""Fixed sinusoidal encoding of (fractional, possibly negative) temporal positions,
laid out so that every attention head receives a complete encoding of its own."""
import math
from typing import Optional

import torch


def encoding_periods(num_freqs: int, min_period: float, max_period: float,
                     device: Optional[torch.device] = None) -> torch.Tensor:
    """Periods (in positions) of one head's ``num_freqs`` sine / cosine pairs:
    geometric from ``min_period`` to ``max_period`` (both included; one pair gets
    ``min_period``). Returns ``[num_freqs]`` float64 on ``device``."""
    if num_freqs < 1:
        raise ValueError(f'encoding_periods: num_freqs must be >= 1, got {num_freqs}')
    if not 0 < min_period <= max_period:
        raise ValueError('encoding_periods: 0 < min_period <= max_period expected, got '
                         f'{min_period}, {max_period}')
    k = torch.arange(num_freqs, device=device, dtype=torch.float64) / max(num_freqs - 1, 1)
    return min_period * (max_period / min_period) ** k


def sinusoidal_encoding(positions: torch.Tensor, dim: int, n_heads: int = 1,
                        min_period: float = 2.5,
                        max_period: float = 10000.0) -> torch.Tensor:
    """Encode positions with sines and cosines, one complete encoding per head.

    The width ``dim`` is cut into ``n_heads`` contiguous slices of ``e = dim / n_heads``
    (the slices multi-head attention gives each head); every slice is
    ``[sin(2 pi p / P_1) .. sin(2 pi p / P_m), cos(2 pi p / P_1) .. cos(2 pi p / P_m)]``
    with ``m = e / 2`` periods ``P_k`` geometric from ``min_period`` to ``max_period``.
    Added to a head's queries and keys, the positional part of their dot product is
    ``sum_k cos(2 pi (p_k - p_q) / P_k)``: a function of the offset alone, at every
    scale from a few positions to the whole window.

    Args:
        positions (Tensor): any shape ``[...]``, float positions in last-layer token
            steps (fractional and negative values are fine: relative offsets).
        dim (int): encoding width, a multiple of ``2 * n_heads``.
        n_heads (int): attention heads the width is split into. Defaults to 1.
        min_period (float): shortest period, in positions. Defaults to 2.5 (about
            the shortest a sampled sinusoid resolves).
        max_period (float): longest period. Defaults to 10000 (the usual transformer
            choice; a narrow head with few pairs wants one near a few windows).

    Returns:
        Tensor: ``[..., dim]`` float32.
    """
    if n_heads < 1 or dim % (2 * n_heads) != 0:
        raise ValueError(f'sinusoidal_encoding: dim must be a positive multiple of '
                         f'2 * n_heads = {2 * n_heads}, got dim={dim}')
    periods = encoding_periods(dim // (2 * n_heads), min_period, max_period,
                               positions.device)
    freqs = (2 * math.pi / periods).float()
    angles = positions.float()[..., None] * freqs
    head = torch.cat([angles.sin(), angles.cos()], dim=-1)  # [..., e]
    return head.repeat((1, ) * positions.dim() + (n_heads, ))
