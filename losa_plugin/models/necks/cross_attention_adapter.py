"""What the short- and long-range adapters share: projections, output reading, masks."""
from typing import Optional

import torch
from torch import nn

from .bottleneck_cross_attention import BottleneckCrossAttention
from .sinusoidal_encoding import sinusoidal_encoding

#: ``'residual'``: the adapter transforms the intermediate features,
#: ``FS_i = F'_i + CrossAttn(F'_i, F'_N)`` (the paper's reading, the default);
#: ``'attention'``: the attention output alone, values from the last layer only.
ADAPTER_OUTPUTS = ('residual', 'attention')


class CrossAttentionAdapter(nn.Module):
    """Base of :class:`ShortRangeAdapter` and :class:`LongRangeAdapter`.

    Queries are a tapped layer's reduced features ``F'_i`` (width ``C_q``), keys and
    values the last layer's ``F'_N`` (width ``C_kv``). Subclasses decide which keys each
    query sees (:meth:`_attend`); this class projects, reads the output and masks:

    * ``output='residual'`` (default): ``F'_i + Dropout(W_o Attn(W_q F'_i, W_k F'_N,
      W_v F'_N))`` with ``W_o: d -> C_q``, so the output lives in the query's space
      ``[.., T_i, C_q]`` as the paper's ``FS_i, FL_i in R^{T_i x C_i}``; the
      intermediate content is carried and the last layer steers what is added.
    * ``output='attention'``: ``Dropout(W_o Attn(...))`` with ``W_o: d -> C_out``
      (values from the last layer only; the previous reading, an ablation).

    Args:
        channels (int): default width of queries, keys/values and output (``C``).
        n_heads (int): Defaults to 4.
        adapter_ratio (float): bottleneck ``d / C_q``. Defaults to 0.25.
        pos_encoding (bool): add sinusoidal positions to projected Q and K, a complete
            encoding per head (:func:`sinusoidal_encoding`). Defaults to True.
        pos_max_period (float): the encoding's longest period, in last-layer tokens.
            Defaults to 10000.
        dropout (float): dropout on the attention output. Defaults to 0.
        query_channels (int, optional): ``C_q``. Defaults to ``channels``.
        kv_channels (int, optional): ``C_kv``. Defaults to ``channels``.
        out_channels (int, optional): output width with ``output='attention'``
            (``'residual'`` outputs ``C_q``). Defaults to ``channels``.
        output (str): ``'residual'`` or ``'attention'``. Defaults to ``'residual'``.
        project_query (bool): own query projection; False when the neck shares one
            between a layer's two adapters and passes projected queries. Defaults to True.
    """

    def __init__(self, channels: int, n_heads: int = 4, adapter_ratio: float = 0.25,
                 pos_encoding: bool = True, dropout: float = 0.0,
                 query_channels: Optional[int] = None,
                 kv_channels: Optional[int] = None,
                 out_channels: Optional[int] = None,
                 output: str = 'residual',
                 project_query: bool = True,
                 pos_max_period: float = 10000.0) -> None:
        super().__init__()
        if output not in ADAPTER_OUTPUTS:
            raise ValueError(f'{type(self).__name__}: output must be one of '
                             f'{ADAPTER_OUTPUTS}, got {output!r}')
        self.output = output
        self.pos_encoding = pos_encoding
        self.pos_max_period = float(pos_max_period)
        q_channels = channels if query_channels is None else int(query_channels)
        self.attn = BottleneckCrossAttention(
            channels, n_heads, adapter_ratio, dropout, query_channels=q_channels,
            kv_channels=kv_channels,
            out_channels=q_channels if output == 'residual' else out_channels,
            project_query=project_query)

    @property
    def out_channels(self) -> int:
        """Width of the adapter's output."""
        return self.attn.out_channels

    def encode_positions(self, positions: torch.Tensor) -> torch.Tensor:
        """``[...]`` positions -> ``[..., d]``: one complete sinusoidal encoding per
        attention head, added to the projected queries / keys."""
        return sinusoidal_encoding(positions, self.attn.dim, self.attn.n_heads,
                                   max_period=self.pos_max_period)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                query_mask: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """``q [B, T, T_i, d]``, ``k, v [B, T, T_N, d]`` -> ``[B, T, T_i, C_out]``."""
        raise NotImplementedError

    def _check(self, query: torch.Tensor, key_value: torch.Tensor,
               query_mask: torch.Tensor, key_mask: torch.Tensor) -> None:
        if query.dim() != 4 or key_value.dim() != 4 or query.shape[:2] != key_value.shape[:2]:
            raise ValueError(f'{type(self).__name__}: query [B, T, T_i, C_q] and key_value '
                             f'[B, T, T_N, C_kv] expected, got {tuple(query.shape)} and '
                             f'{tuple(key_value.shape)}')
        if query_mask.shape != query.shape[:3] or key_mask.shape != key_value.shape[:3]:
            raise ValueError(f'{type(self).__name__}: masks must be [B, T, T_i] / '
                             f'[B, T, T_N], got {tuple(query_mask.shape)} / '
                             f'{tuple(key_mask.shape)}')

    def forward(self, query: torch.Tensor, key_value: torch.Tensor,
                query_mask: torch.Tensor, key_mask: torch.Tensor,
                q: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Args:
            query (Tensor): ``[B, T, T_i, C_q]`` reduced layer-i features ``F'_i``.
            key_value (Tensor): ``[B, T, T_N, C_kv]`` reduced last-layer features.
            query_mask (Tensor): ``[B, T, T_i]`` bool, valid query tokens.
            key_mask (Tensor): ``[B, T, T_N]`` bool, valid key tokens (never attended
                to otherwise).
            q (Tensor, optional): ``[B, T, T_i, d]`` queries already projected (shared
                projection); default: this adapter's own projection of ``query``.

        Returns:
            Tensor: ``[B, T, T_i, C_q]`` (``'residual'``) or ``[B, T, T_i, C_out]``
            (``'attention'``), zero at invalid query tokens.
        """
        self._check(query, key_value, query_mask, key_mask)
        if q is None:
            q = self.attn.project_q(query)
        k, v = self.attn.project_kv(key_value)
        out = self._attend(q, k, v, query_mask, key_mask)
        if self.output == 'residual':
            out = query.to(out.dtype) + out
        return out.masked_fill(~query_mask[..., None], 0.0)
