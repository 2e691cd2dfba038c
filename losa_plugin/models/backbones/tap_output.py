"""What a layer-tap backbone hands to the neck."""
from typing import NamedTuple, Optional, Tuple

import torch
from einops import rearrange


class TapOutput(NamedTuple):
    """Tapped intermediate features of one batch of windows.

    Attributes:
        feats: one tensor per tapped layer, ``[B, T, T_i, H_i, W_i, C_i]`` (channels
            last, ``T`` clips per window), ``[B, T, T_i, C_i]`` with
            ``tap_reduce='spatial_mean'``, or ``[B, T, T_i, p, p, C_i]`` with
            ``tap_reduce='spatial_pool'`` (spatial mean kept exactly).
        layer_ids: the tapped block / stage indices, ascending; the last is layer N.
        clip_mask: ``[B, T]`` bool, True where the clip holds at least one valid frame.
        frame_mask: ``[B, T, T']`` bool, the valid frames of each clip (``T'`` frames a
            clip), or None (every frame of a valid clip is valid). A token of a layer
            with ``T_i`` tokens a clip covers ``T' / T_i`` consecutive frames and is
            valid when any of them is (:func:`token_mask`), as a clip is.
        pooled_last: ``[B, T, T_N, C_N]``, the last tap pooled over space the way the
            backbone's own output does it (VideoMAEv2 / mmaction ``VisionTransformer``
            with mean pooling: ``fc_norm`` of the spatial mean, per temporal token;
            SlowFast: the spatial mean of the fused output), or None (then necks take
            the plain spatial mean of ``feats[-1]``). This is ``F_N``, the head-only
            features.
        clip_reduced: the outputs of a neck's per-clip reduction run inside the
            backbone's clip loop (``tap_recompute=True`` with a ``clip_reducer``, e.g.
            ``LoSANeck.reduce_clip_taps``), ``[B, T, ...]`` each in the order the
            reducer returns them (LoSA: ``[B, T, T_i, C'_i]`` per adapted layer, then
            ``[B, T, T_N, C]`` of layer N), zero at clips that did not run; or None.
            When set, ``feats`` is ``()``: no tap is stored, the backward pass
            recomputes each clip's taps.
    """
    feats: Tuple[torch.Tensor, ...]
    layer_ids: Tuple[int, ...]
    clip_mask: torch.Tensor
    frame_mask: Optional[torch.Tensor] = None
    pooled_last: Optional[torch.Tensor] = None
    clip_reduced: Optional[Tuple[torch.Tensor, ...]] = None


def token_mask(taps: TapOutput, num_tokens: int) -> torch.Tensor:
    """Validity of the ``num_tokens`` temporal tokens of each clip.

    Args:
        taps (TapOutput): carries ``clip_mask [B, T]`` and optionally
            ``frame_mask [B, T, T']``.
        num_tokens (int): ``T_i``, tokens a clip (must divide ``T'``).

    Returns:
        Tensor: ``[B, T, T_i]`` bool; a token is valid when any of its frames is.
    """
    clip_mask = taps.clip_mask.bool()
    if taps.frame_mask is None:
        return clip_mask[:, :, None].expand(-1, -1, num_tokens)
    frames = taps.frame_mask.bool()
    if frames.shape[:2] != clip_mask.shape or frames.shape[2] % num_tokens:
        raise ValueError(f'TapOutput.frame_mask {tuple(frames.shape)} must be [B, T, T\'] '
                         f'with [B, T] = {tuple(clip_mask.shape)} and T\' a multiple of '
                         f'{num_tokens} tokens a clip')
    return rearrange(frames, 'b t (n k) -> b t n k', n=num_tokens).any(-1) & clip_mask[..., None]
