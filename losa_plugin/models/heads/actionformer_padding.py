"""The padded array ActionFormer runs on, for its padding arithmetic (docs/actionformer.md).

ActionFormer pads every input with zeros to a fixed array length and lets padded steps
take part in the arithmetic: its masked conv does not zero its input (a padded step
holds ``relu(LayerNorm(0))`` = the norm's bias when the next conv reads it) and its
stride-2 max-pool sees padded steps as 0. Only steps *beyond* the array read as the
conv's zero padding / the pool's -inf. So its outputs at the last valid steps depend on
how long that array is; reproducing them needs the same array length:

* ``L <= max_seq_len``: ``max_seq_len`` (training always, as ActionFormer asserts);
* otherwise the next multiple of ``max_div_factor`` (ActionFormer's test-time rule),
  where ``max_div_factor = max_l stride_l * (window_l // 2) * 2`` (``stride_l`` for
  global attention).

Without ``max_seq_len`` the array is the next multiple of ``max_div_factor``.
"""
from typing import Optional, Sequence, Tuple

import torch

PADDING_MODES = ('actionformer', 'invariant')


def max_div_factor(strides: Sequence[int], windows: Sequence[int]) -> int:
    """ActionFormer's ``max_div_factor``: the length every padded array is a multiple
    of, ``max_l s_l * (w_l // 2) * 2`` (``s_l`` where ``w_l <= 1``, i.e. global)."""
    return max(s * (w // 2) * 2 if w > 1 else s for s, w in zip(strides, windows))


def array_lengths(valid_len: torch.Tensor, max_seq_len: Optional[int],
                  div: int) -> torch.Tensor:
    """Per-sample length of ActionFormer's padded array ``[B]`` (int64) for
    ``valid_len [B]`` valid steps (see the module docstring)."""
    blocks = torch.div(valid_len + div - 1, div, rounding_mode='floor').clamp(min=1)
    lengths = blocks * div
    if max_seq_len is not None:
        lengths = torch.where(valid_len <= max_seq_len,
                              torch.full_like(lengths, int(max_seq_len)), lengths)
    return lengths


def prefix_lengths(mask: torch.Tensor, where: str) -> torch.Tensor:
    """Number of valid steps per sample of a ``[B, L]`` mask whose valid steps form a
    prefix (as every window here); raises otherwise."""
    valid_len = mask.sum(1)
    steps = torch.arange(mask.shape[1], device=mask.device)
    if not torch.equal(mask, steps[None] < valid_len[:, None]):
        raise ValueError(f"{where}: padding='actionformer' needs masks whose valid steps "
                         "come first (a prefix); use padding='invariant' for other masks")
    return valid_len


def readable_mask(mask: torch.Tensor, mode: str, max_seq_len: Optional[int], div: int,
                  where: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The steps the head's convs and pools read as they are, ``[B, L']``, and the
    (possibly extended) validity mask ``[B, L']``.

    ``'invariant'``: the valid steps themselves (padding never reaches a valid output);
    ``L' = L``. ``'actionformer'``: the steps of ActionFormer's padded array; ``L'`` is
    ``L`` extended, when needed, to the longest array of the batch.
    """
    if mode == 'invariant':
        return mask, mask
    valid_len = prefix_lengths(mask, where)
    lengths = array_lengths(valid_len, max_seq_len, div)
    total = max(int(lengths.max()), mask.shape[1])
    steps = torch.arange(total, device=mask.device)[None]
    return steps < lengths[:, None], steps < valid_len[:, None]
