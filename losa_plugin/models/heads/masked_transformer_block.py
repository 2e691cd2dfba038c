"""Pre-LN transformer block with masked local self-attention and optional
downsampling of the sequence and its mask."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS

from .affine_drop_path import AffineDropPath
from .channel_layer_norm import ChannelLayerNorm
from .masked_conv1d import as_time_mask, input_mask
from .masked_local_attention import MaskedLocalAttention


@MODELS.register_module()
class MaskedTransformerBlock(nn.Module):
    """``x -> pool(x) + attn(LN(x)); x -> x + MLP(LN(x))`` on ``[B, C, T]`` with masks.

    With ``stride > 1`` the attention downsamples (strided depthwise Q/K/V convs) and
    the skip path is a max-pool with the same centring, so output step ``i`` sits on
    input step ``stride * i``. The pool sees steps outside ``pad_mask`` as -inf (its
    own padding) and steps inside it as they are: with ``pad_mask=None`` (= ``mask``)
    padded steps never win; with ActionFormer's padded array they hold 0 (block
    outputs are zero there) and win over negative valid values, as in ActionFormer.

    Args:
        embed_dims (int): C.
        num_heads (int): attention heads. Defaults to 4.
        window_size (int): local attention window (odd), -1 for global. Defaults to 19.
        stride (int): temporal downsampling factor (1 = none). Defaults to 1.
        mlp_ratio (float): hidden width of the MLP relative to C. Defaults to 4.
        attn_drop (float): attention-weight dropout. Defaults to 0.0.
        proj_drop (float): dropout after projections / MLP. Defaults to 0.0.
        drop_path (float): stochastic depth rate. When > 0 each residual branch also
            gets a per-channel scale initialised to 1e-4 (as ActionFormer does).
            Defaults to 0.0.
    """

    def __init__(self, embed_dims: int, num_heads: int = 4, window_size: int = 19,
                 stride: int = 1, mlp_ratio: float = 4.0, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.stride = stride
        self.norm1 = ChannelLayerNorm(embed_dims)
        self.attn = MaskedLocalAttention(embed_dims, num_heads, window_size, stride,
                                         attn_drop, proj_drop)
        self.norm2 = ChannelLayerNorm(embed_dims)
        hidden = int(embed_dims * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Conv1d(embed_dims, hidden, 1), nn.GELU(), nn.Dropout(proj_drop),
            nn.Conv1d(hidden, embed_dims, 1), nn.Dropout(proj_drop))
        if drop_path > 0:
            self.drop_path_attn = AffineDropPath(embed_dims, drop_path)
            self.drop_path_mlp = AffineDropPath(embed_dims, drop_path)
        else:
            self.drop_path_attn = nn.Identity()
            self.drop_path_mlp = nn.Identity()
        self.pool_kernel = 3 if stride == 1 else stride + 1 + stride % 2

    def _skip(self, x: torch.Tensor, readable: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x
        # Unreadable steps act like the pool's own padding (finite, so that a window
        # of padding times the zero mask stays 0 rather than nan).
        x = x.masked_fill(~readable[:, None], torch.finfo(x.dtype).min)
        return F.max_pool1d(x, self.pool_kernel, self.stride, self.pool_kernel // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                pad_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            x (Tensor): ``[B, C, T]``.
            mask (Tensor): ``[B, T]`` (or ``[B, 1, T]``) bool, True = valid.
            pad_mask (Tensor, optional): ``[B, T]``, the steps the convs and the pool
                read as they are (:class:`MaskedConv1D`); None means ``mask``.

        Returns:
            tuple: ``out [B, C, T // stride]`` (zero at padded steps) and
            ``mask [B, T // stride]``.
        """
        mask = as_time_mask(mask, x.shape[0], x.shape[-1], 'MaskedTransformerBlock')
        attn, out_mask = self.attn(self.norm1(x), mask, pad_mask)
        keep = out_mask[:, None].to(x.dtype)
        readable = input_mask(mask, pad_mask, 'MaskedTransformerBlock')
        out = self._skip(x, readable) * keep + self.drop_path_attn(attn)
        out = out + self.drop_path_mlp(self.mlp(self.norm2(out)) * keep)
        return out, out_mask
