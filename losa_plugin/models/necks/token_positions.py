"""Where each temporal token of a tapped layer sits within its clip."""
from typing import Optional

import torch


def clip_token_positions(num_tokens: int, last_tokens: int,
                         device: Optional[torch.device] = None) -> torch.Tensor:
    """Positions of a layer's ``num_tokens`` tokens of one clip, in units of the last
    layer's ``last_tokens`` tokens a clip: ``j * T_N / T_i``.

    Token ``j`` sits on the clip's frame ``j * T' / T_i``, the frame its pathway
    samples: mmaction's SlowFast samples frames ``0, r, 2r, ..`` for the slow pathway
    (slow step ``k``, and so ``F_N``, on frame ``k r``) and every
    ``r / speed_ratio``-th frame for the fast one, and its temporal convolutions are
    centred. A fast step therefore lands exactly on the slow step of the same frame
    (``T_i = 16``, ``T_N = 2``: fast step 8 at position 1). For a ViT every tap has
    ``T_N`` tokens and the positions are ``0 .. T_N - 1``.

    Returns ``[num_tokens]`` float32.
    """
    if num_tokens < 1 or last_tokens < 1:
        raise ValueError('clip_token_positions: token counts must be positive, got '
                         f'{num_tokens}, {last_tokens}')
    j = torch.arange(num_tokens, device=device, dtype=torch.float32)
    return j * (last_tokens / num_tokens)
