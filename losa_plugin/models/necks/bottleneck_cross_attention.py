"""Multi-head cross-attention in a narrow width ``d = C_q * ratio`` (the adapters' core)."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def bottleneck_width(channels: int, ratio: float, n_heads: int) -> int:
    """``round(channels * ratio)`` rounded up to a positive multiple of ``2 * n_heads``
    (heads split it evenly, and each head's sinusoidal encoding needs an even width)."""
    if ratio <= 0:
        raise ValueError(f'adapter_ratio must be > 0, got {ratio}')
    if n_heads < 1:
        raise ValueError(f'n_heads must be >= 1, got {n_heads}')
    step = 2 * n_heads
    d = int(round(channels * ratio))
    return max(step, -(-d // step) * step)


class BottleneckCrossAttention(nn.Module):
    """Cross-attention in a narrow width ``d``: Q is projected from the queries' width,
    K and V from the keys/values' width, all down to ``d``; the result is projected
    from ``d`` to the output width.

    ``d = bottleneck_width(query_channels, ratio, n_heads)``, so the bottleneck scales
    with the layer being adapted. With one width ``C`` everywhere it has ``4 * C * d``
    weights (``C^2`` at ratio 0.25); ``project_query=False`` leaves out the query
    projection, for adapters that share one (the LoSA neck's short- and long-range
    adapters of a layer read the same queries): then callers pass projected queries.

    Args:
        channels (int): default width of queries, keys/values and output.
        n_heads (int): attention heads. Defaults to 4.
        ratio (float): ``d / query_channels``. Defaults to 0.25.
        dropout (float): dropout on the output. Defaults to 0.
        query_channels (int, optional): width of the queries. Defaults to ``channels``.
        kv_channels (int, optional): width of the keys/values. Defaults to ``channels``.
        out_channels (int, optional): width of the output. Defaults to ``channels``.
        project_query (bool): build the query projection. Defaults to True.
    """

    def __init__(self, channels: int, n_heads: int = 4, ratio: float = 0.25,
                 dropout: float = 0.0, query_channels: Optional[int] = None,
                 kv_channels: Optional[int] = None,
                 out_channels: Optional[int] = None,
                 project_query: bool = True) -> None:
        super().__init__()
        self.channels = channels
        self.query_channels = channels if query_channels is None else int(query_channels)
        self.kv_channels = channels if kv_channels is None else int(kv_channels)
        self.out_channels = channels if out_channels is None else int(out_channels)
        for name in ('channels', 'query_channels', 'kv_channels', 'out_channels'):
            if getattr(self, name) < 1:
                raise ValueError(f'BottleneckCrossAttention: {name} must be >= 1, '
                                 f'got {getattr(self, name)}')
        self.n_heads = n_heads
        self.dim = bottleneck_width(self.query_channels, ratio, n_heads)
        self.q_proj = nn.Linear(self.query_channels, self.dim) if project_query else None
        self.k_proj = nn.Linear(self.kv_channels, self.dim)
        self.v_proj = nn.Linear(self.kv_channels, self.dim)
        self.out_proj = nn.Linear(self.dim, self.out_channels)
        self.drop = nn.Dropout(dropout)

    def project_q(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., C_q] -> [..., d]`` (``C_q = query_channels``)."""
        if self.q_proj is None:
            raise RuntimeError('BottleneckCrossAttention: built with project_query=False; '
                               'pass projected queries')
        return self.q_proj(x)

    def project_kv(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``[..., C_kv] -> ([..., d], [..., d])`` (``C_kv = kv_channels``)."""
        return self.k_proj(x), self.v_proj(x)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               key_mask: torch.Tensor) -> torch.Tensor:
        """Attention on projected tensors, then the output projection.

        Args:
            q (Tensor): ``[N, Lq, d]``.
            k (Tensor): ``[N, Lk, d]``.
            v (Tensor): ``[N, Lk, d]``.
            key_mask (Tensor): bool, True = may be attended; ``[N, Lk]`` (same for all
                queries) or ``[N, Lq, Lk]``.

        Returns:
            Tensor: ``[N, Lq, C_out]``; exactly zero for queries without any valid key
            (instead of the NaN an all-masked softmax gives).
        """
        if key_mask.dim() == 2:
            key_mask = key_mask[:, None, :]
        has_key = key_mask.any(dim=-1, keepdim=True)  # [N, 1 or Lq, 1]
        # Let key-less rows attend everywhere (finite), and zero them afterwards.
        attn_mask = (key_mask | ~has_key)[:, None]  # [N, 1, 1 or Lq, Lk]
        h = self.n_heads
        q, k, v = (rearrange(x, 'n l (h e) -> n h l e', h=h) for x in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = self.drop(self.out_proj(rearrange(out, 'n h l e -> n l (h e)')))
        return out.masked_fill(~has_key, 0.0)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor,
                key_mask: torch.Tensor, q_pos: Optional[torch.Tensor] = None,
                k_pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Plain cross-attention ``[N, Lq, C_q] x [N, Lk, C_kv] -> [N, Lq, C_out]``; ``q_pos`` /
        ``k_pos`` (broadcastable to ``[N, Lq, d]`` / ``[N, Lk, d]``) are added after
        the projections."""
        q = self.project_q(query)
        k, v = self.project_kv(key_value)
        if q_pos is not None:
            q = q + q_pos
        if k_pos is not None:
            k = k + k_pos
        return self.attend(q, k, v, key_mask)
