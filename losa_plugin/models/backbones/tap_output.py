"""What a layer-tap backbone hands to the neck."""
from typing import NamedTuple, Tuple

import torch


class TapOutput(NamedTuple):
    """Tapped intermediate features of one batch of windows.

    Attributes:
        feats: one tensor per tapped layer, ``[B, T, T_i, H_i, W_i, C_i]`` (channels
            last, ``T`` clips per window), ``[B, T, T_i, C_i]`` with
            ``tap_reduce='spatial_mean'``, or ``[B, T, T_i, p, p, C_i]`` with
            ``tap_reduce='spatial_pool'`` (spatial mean kept exactly).
        layer_ids: the tapped block / stage indices, ascending; the last is layer N.
        clip_mask: ``[B, T]`` bool, True where the clip holds at least one valid frame.
    """
    feats: Tuple[torch.Tensor, ...]
    layer_ids: Tuple[int, ...]
    clip_mask: torch.Tensor
