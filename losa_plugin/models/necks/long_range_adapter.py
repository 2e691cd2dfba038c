"""Long-range adapter: the whole window of layer i attends to the whole window of layer N."""
import torch
from einops import rearrange

from .cross_attention_adapter import CrossAttentionAdapter
from .token_positions import clip_token_positions


class LongRangeAdapter(CrossAttentionAdapter):
    """``FL_i``: queries are all tokens of layer i in the window, keys/values all tokens
    of layer N; both carry global temporal positions (clip index * ``T_N`` + the
    clip-local position of :func:`clip_token_positions`, in last-layer token units), so a
    query knows where in the window it and every key sit; each attention head gets a
    complete encoding (:func:`sinusoidal_encoding`). Invalid key tokens are never attended to; invalid
    query tokens output zeros. Arguments and output reading:
    :class:`CrossAttentionAdapter`.
    """

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                query_mask: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, t, ti, _ = q.shape
        tn = k.shape[2]
        if self.pos_encoding:
            clip_start = torch.arange(t, device=q.device, dtype=torch.float32)[:, None] * tn
            q_pos = clip_start + clip_token_positions(ti, tn, q.device)  # [T, T_i]
            k_pos = clip_start + clip_token_positions(tn, tn, k.device)  # [T, T_N]
            q = q + self.encode_positions(q_pos).to(q.dtype)
            k = k + self.encode_positions(k_pos).to(k.dtype)
        out = self.attn.attend(rearrange(q, 'b t i d -> b (t i) d'),
                               rearrange(k, 'b t n d -> b (t n) d'),
                               rearrange(v, 'b t n d -> b (t n) d'),
                               rearrange(key_mask, 'b t n -> b (t n)'))
        return rearrange(out, 'b (t i) c -> b t i c', t=t)
