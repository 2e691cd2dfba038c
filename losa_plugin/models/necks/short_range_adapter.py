"""Short-range adapter: each clip of layer i attends to nearby clips of layer N."""
from typing import Optional

import torch
import torch.nn.functional as F
from einops import rearrange

from .cross_attention_adapter import CrossAttentionAdapter
from .token_positions import clip_token_positions


class ShortRangeAdapter(CrossAttentionAdapter):
    """``FS_i``: queries from one clip of layer i, keys/values from layer N's tokens
    in clips ``t - r .. t + r`` (``r = short_range_clips``).

    Why a window: with plain cross-attention a query's output does not depend on the
    other queries, so "one clip as query" and "the whole window as query" would be
    the same function; the window makes the range real. Queries carry clip-local
    positions (:func:`clip_token_positions`) and keys positions relative to the query's
    clip (``offset * T_N + k``), each head a complete encoding, so the adapter is the
    same at every clip. ``short_range_clips=None`` is the
    literal reading of the paper: every clip sees every clip of the window (still with
    relative key positions; memory grows as ``T^2``). With ``pos_encoding=False`` and
    ``None`` it is plain global cross-attention.

    Invalid key tokens are never attended to; invalid query tokens output zeros. Output
    reading, projections and arguments: :class:`CrossAttentionAdapter`, plus

    Args:
        short_range_clips (int, optional): ``r >= 0``; None = the whole window.
            Defaults to 1.
    """

    def __init__(self, channels: int, n_heads: int = 4, adapter_ratio: float = 0.25,
                 short_range_clips: Optional[int] = 1, pos_encoding: bool = True,
                 dropout: float = 0.0, **kwargs) -> None:
        super().__init__(channels, n_heads, adapter_ratio, pos_encoding, dropout, **kwargs)
        if short_range_clips is not None and (
                not isinstance(short_range_clips, int) or short_range_clips < 0):
            raise ValueError('ShortRangeAdapter: short_range_clips must be None or an int '
                             f'>= 0, got {short_range_clips!r}')
        self.short_range_clips = short_range_clips

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                query_mask: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, t, ti, _ = q.shape
        tn = k.shape[2]
        r = t - 1 if self.short_range_clips is None else min(self.short_range_clips, t - 1)
        win = 2 * r + 1
        if self.pos_encoding:
            q = q + self.encode_positions(clip_token_positions(ti, tn, q.device)).to(q.dtype)
            rel = (torch.arange(-r, r + 1, device=q.device)[:, None] * tn
                   + clip_token_positions(tn, tn, q.device)[None])  # [win, T_N]
            k_pos = self.encode_positions(rel).to(k.dtype)
        # Windows of clips around each clip: pad time by r, then slide.
        k_win, v_win = (F.pad(x, (0, 0, 0, 0, r, r)).unfold(1, win, 1) for x in (k, v))
        k_win, v_win = (rearrange(x, 'b t n d w -> b t w n d') for x in (k_win, v_win))
        if self.pos_encoding:
            k_win = k_win + k_pos
        mask_win = F.pad(key_mask, (0, 0, r, r), value=False).unfold(1, win, 1)  # [B,T,N,w]
        out = self.attn.attend(
            rearrange(q, 'b t i d -> (b t) i d'),
            rearrange(k_win, 'b t w n d -> (b t) (w n) d'),
            rearrange(v_win, 'b t w n d -> (b t) (w n) d'),
            rearrange(mask_win, 'b t n w -> (b t) (w n)'))
        return rearrange(out, '(b t) i c -> b t i c', b=b, t=t)
