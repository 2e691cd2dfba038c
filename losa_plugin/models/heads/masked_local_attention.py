"""Masked multi-head self-attention over a local temporal window (ActionFormer's
conv-attention: depthwise convs on Q/K/V that can also downsample the sequence)."""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from mmaction.registry import MODELS

from .channel_layer_norm import ChannelLayerNorm
from .masked_conv1d import MaskedConv1D, as_time_mask


@MODELS.register_module()
class MaskedLocalAttention(nn.Module):
    """Multi-head self-attention on ``[B, C, T]`` where each query attends only to the
    valid keys within ``window_size // 2`` steps of itself (``window_size=-1``: to all
    valid keys).

    Q, K and V each pass a depthwise :class:`MaskedConv1D` (which carries relative
    position and, with ``stride > 1``, downsamples the sequence and its mask) and a
    LayerNorm before their linear projections. Padded keys get zero weight; padded
    queries output zeros. What the depthwise convs read at padded steps follows
    ``pad_mask`` (:class:`MaskedConv1D`).

    Args:
        embed_dims (int): C.
        num_heads (int): number of heads; must divide C. Defaults to 4.
        window_size (int): odd local window size, or -1 for global attention.
            Defaults to 19.
        stride (int): temporal downsampling of queries and keys/values. Defaults to 1.
        attn_drop (float): dropout on the attention weights. Defaults to 0.0.
        proj_drop (float): dropout after the output projection. Defaults to 0.0.
    """

    def __init__(self, embed_dims: int, num_heads: int = 4, window_size: int = 19,
                 stride: int = 1, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'MaskedLocalAttention: embed_dims={embed_dims} is not '
                             f'divisible by num_heads={num_heads}')
        if window_size != -1 and (window_size < 3 or window_size % 2 == 0):
            raise ValueError(f'MaskedLocalAttention: window_size must be an odd number '
                             f'>= 3 or -1 (global), got {window_size}')
        self.num_heads = num_heads
        self.window_size = window_size
        self.scale = 1.0 / math.sqrt(embed_dims // num_heads)
        # Odd kernel covering the stride, centred on the kept step.
        kernel = 3 if stride == 1 else stride + 1 + stride % 2
        self.q_conv = MaskedConv1D(embed_dims, embed_dims, kernel, stride, embed_dims, bias=False)
        self.k_conv = MaskedConv1D(embed_dims, embed_dims, kernel, stride, embed_dims, bias=False)
        self.v_conv = MaskedConv1D(embed_dims, embed_dims, kernel, stride, embed_dims, bias=False)
        self.q_norm = ChannelLayerNorm(embed_dims)
        self.k_norm = ChannelLayerNorm(embed_dims)
        self.v_norm = ChannelLayerNorm(embed_dims)
        self.q_proj = nn.Conv1d(embed_dims, embed_dims, 1)
        self.k_proj = nn.Conv1d(embed_dims, embed_dims, 1)
        self.v_proj = nn.Conv1d(embed_dims, embed_dims, 1)
        self.out_proj = nn.Conv1d(embed_dims, embed_dims, 1)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, 'b (h d) t -> b h t d', h=self.num_heads)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                pad_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            x (Tensor): ``[B, C, T]``.
            mask (Tensor): ``[B, T]`` (or ``[B, 1, T]``) bool, True = valid.
            pad_mask (Tensor, optional): ``[B, T]``, steps the Q/K/V convs read as they
                are (see :class:`MaskedConv1D`); None means ``mask``.

        Returns:
            tuple: ``out [B, C, T // stride]`` (zero at padded steps) and
            ``mask [B, T // stride]``.
        """
        mask = as_time_mask(mask, x.shape[0], x.shape[-1], 'MaskedLocalAttention')
        q, out_mask = self.q_conv(x, mask, pad_mask)
        k, _ = self.k_conv(x, mask, pad_mask)
        v, _ = self.v_conv(x, mask, pad_mask)
        q = self._heads(self.q_proj(self.q_norm(q))) * self.scale
        k = self._heads(self.k_proj(self.k_norm(k)))
        v = self._heads(self.v_proj(self.v_norm(v))) * out_mask[:, None, :, None].to(x.dtype)
        neg = torch.finfo(q.dtype).min  # finite, so fully padded rows give no NaN
        if self.window_size == -1:
            att = torch.einsum('bhqd,bhkd->bhqk', q, k)
            att = att.masked_fill(~out_mask[:, None, None, :], neg)
            att = self.attn_drop(att.softmax(dim=-1))
            out = torch.einsum('bhqk,bhkd->bhqd', att, v)
        else:
            r, w = self.window_size // 2, self.window_size
            # Key/value windows [B, h, T, d, W] as strided views around each query.
            k_win = F.pad(k, (0, 0, r, r)).unfold(2, w, 1)
            v_win = F.pad(v, (0, 0, r, r)).unfold(2, w, 1)
            key_ok = F.pad(out_mask, (r, r), value=False).unfold(1, w, 1)  # [B, T, W]
            att = torch.einsum('bhtd,bhtdw->bhtw', q, k_win)
            att = att.masked_fill(~key_ok[:, None], neg)
            att = self.attn_drop(att.softmax(dim=-1))
            out = torch.einsum('bhtw,bhtdw->bhtd', att, v_win)
        out = self.proj_drop(self.out_proj(rearrange(out, 'b h t d -> b (h d) t')))
        return out * out_mask[:, None].to(out.dtype), out_mask
