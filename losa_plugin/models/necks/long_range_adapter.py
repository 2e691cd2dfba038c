"""Long-range adapter: the whole window of layer i attends to the whole window of layer N."""
from typing import Optional

import torch
from einops import rearrange, repeat
from torch import nn

from .bottleneck_cross_attention import BottleneckCrossAttention
from .short_range_adapter import clip_local_positions
from .sinusoidal_encoding import sinusoidal_encoding


class LongRangeAdapter(nn.Module):
    """``FL_i``: queries are all tokens of layer i in the window, keys/values all tokens
    of layer N; both carry global temporal positions (clip index * ``T_N`` + the
    clip-local position, in last-layer token units), so a query knows where in the
    window it and every key sit. Padded clips are never attended to; their queries
    output zeros.

    Args:
        channels (int): default width of queries, keys/values and output (``C``).
        n_heads (int): Defaults to 4.
        adapter_ratio (float): bottleneck ``d / C_q``. Defaults to 0.25.
        pos_encoding (bool): add sinusoidal positions to projected Q and K. Defaults to True.
        dropout (float): output dropout. Defaults to 0.
        query_channels (int, optional): width of ``query`` (a tapped layer's own
            ``C_i``). Defaults to ``channels``.
        kv_channels (int, optional): width of ``key_value`` (the neck's ``C``).
            Defaults to ``channels``.
        out_channels (int, optional): width of the output. Defaults to ``channels``.
    """

    def __init__(self, channels: int, n_heads: int = 4, adapter_ratio: float = 0.25,
                 pos_encoding: bool = True, dropout: float = 0.0,
                 query_channels: Optional[int] = None,
                 kv_channels: Optional[int] = None,
                 out_channels: Optional[int] = None) -> None:
        super().__init__()
        self.pos_encoding = pos_encoding
        self.attn = BottleneckCrossAttention(
            channels, n_heads, adapter_ratio, dropout, query_channels=query_channels,
            kv_channels=kv_channels, out_channels=out_channels)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor,
                clip_mask: torch.Tensor) -> torch.Tensor:
        """Args:
            query (Tensor): ``[B, T, T_i, C_q]`` reduced layer-i features.
            key_value (Tensor): ``[B, T, T_N, C_kv]`` reduced last-layer features.
            clip_mask (Tensor): ``[B, T]`` bool.

        Returns:
            Tensor: ``[B, T, T_i, C_out]``.
        """
        b, t, ti, _ = query.shape
        tn = key_value.shape[2]
        q = self.attn.project_q(query)
        k, v = self.attn.project_kv(key_value)
        if self.pos_encoding:
            d = q.shape[-1]
            clip_start = torch.arange(t, device=q.device, dtype=torch.float32)[:, None] * tn
            q_pos = clip_start + clip_local_positions(ti, tn, q.device)  # [T, T_i]
            k_pos = clip_start + clip_local_positions(tn, tn, k.device)  # [T, T_N]
            q = q + sinusoidal_encoding(q_pos, d).to(q.dtype)
            k = k + sinusoidal_encoding(k_pos, d).to(k.dtype)
        out = self.attn.attend(rearrange(q, 'b t i d -> b (t i) d'),
                               rearrange(k, 'b t n d -> b (t n) d'),
                               rearrange(v, 'b t n d -> b (t n) d'),
                               repeat(clip_mask, 'b t -> b (t n)', n=tn))
        out = rearrange(out, 'b (t i) c -> b t i c', t=t)
        return out.masked_fill(~clip_mask[:, :, None, None], 0.0)
