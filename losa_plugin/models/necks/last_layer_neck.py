"""The plain last-layer neck of the head-only and full fine-tuning baselines."""
from typing import Optional, Tuple

import torch
from einops import rearrange
from mmengine.model import BaseModule
from torch import nn

from mmaction.registry import MODELS

from ..backbones.tap_output import TapOutput, token_mask


@MODELS.register_module()
class LastLayerNeck(BaseModule):
    """The last layer's features, pooled over space as the backbone's own output
    pools them, as a head input.

    This is also LoSA's ``F_N`` ("the pooled last-layer features"): ``LoSANeck``
    holds one of these and calls :meth:`pool`, so with zero gates the two necks
    return the same tensor by construction. The head-only and full fine-tuning
    baselines use this neck alone, so the three strategies differ only by config.

    ``F_N`` is ``TapOutput.pooled_last`` when the backbone provides it (the layer-tap
    wrappers do: for VideoMAEv2 the pretrained ``fc_norm`` of the spatial mean of each
    temporal token, the features VideoMAEv2 feature extraction gives), else the plain
    spatial mean of the last tap.

    Args:
        in_channels (int, optional): ``C_N`` of the last tap; only needed together
            with ``out_channels``. Defaults to None.
        out_channels (int, optional): head width ``C``. When given and different
            from ``in_channels`` a ``Linear(C_N, C)`` follows the pooling; otherwise
            the neck is parameter-free. Defaults to None.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Input: ``TapOutput`` whose last ``feats`` entry is ``[B, T, T_N, H, W, C_N]``
    (or ``[B, T, T_N, C_N]`` already reduced); other taps are ignored.
    Output: ``(feats [B, C, T * T_N], mask [B, T * T_N] bool)``; invalid tokens (of
    padded clips, and of the padding frames of a partly padded clip) are zero and
    masked.
    """

    def __init__(self, in_channels: Optional[int] = None,
                 out_channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_channels is not None and in_channels is None:
            raise ValueError('LastLayerNeck: out_channels needs in_channels (the last '
                             f'tap\'s C_N); got out_channels={out_channels}')
        self.in_channels = in_channels
        self.out_channels = out_channels if out_channels is not None else in_channels
        if in_channels is not None and self.out_channels != in_channels:
            self.proj = nn.Linear(in_channels, self.out_channels)
        else:
            self.proj = nn.Identity()

    def pool(self, taps: TapOutput) -> Tuple[torch.Tensor, torch.Tensor]:
        """``F_N`` and its token mask.

        Args:
            taps (TapOutput): the last ``feats`` entry ``[B, T, T_N, H, W, C_N]`` or
                ``[B, T, T_N, C_N]``; ``pooled_last [B, T, T_N, C_N]`` used when present.

        Returns:
            tuple: ``F_N [B, T, T_N, C]`` in the parameters' dtype (float32 when
            parameter-free), zero at invalid tokens, and ``mask [B, T, T_N]`` bool.
        """
        # Taps may be stored in bf16 / fp16: accumulate the mean in the parameters'
        # dtype (float32 when parameter-free) without copying the full tap first.
        params = next(self.parameters(), None)
        dtype = params.dtype if params is not None else torch.float32
        if not taps.feats:  # no tap stored (tap recompute): F_N is pooled_last alone
            if taps.pooled_last is None:
                raise ValueError('LastLayerNeck: TapOutput has neither taps nor pooled_last')
            feat = taps.pooled_last
        else:
            feat = taps.feats[-1]
        if feat.dim() not in (4, 6):
            raise ValueError('LastLayerNeck: the last tap must be [B, T, T_N, H, W, C] or '
                             f'[B, T, T_N, C], got shape {tuple(feat.shape)}')
        if taps.pooled_last is not None:
            if tuple(taps.pooled_last.shape) != tuple(feat.shape[:3]) + (feat.shape[-1], ):
                raise ValueError(f'LastLayerNeck: pooled_last {tuple(taps.pooled_last.shape)} '
                                 f'does not match the last tap {tuple(feat.shape)}')
            feat = taps.pooled_last.to(dtype)
        elif feat.dim() == 6:
            feat = feat.mean(dim=(3, 4), dtype=dtype)
        else:
            feat = feat.to(dtype)
        if self.in_channels is not None and feat.shape[-1] != self.in_channels:
            raise ValueError(f'LastLayerNeck: the last tap has {feat.shape[-1]} channels, '
                             f'in_channels={self.in_channels} expected')
        if tuple(taps.clip_mask.shape) != tuple(feat.shape[:2]):
            raise ValueError(f'LastLayerNeck: clip_mask shape {tuple(taps.clip_mask.shape)} '
                             f'does not match the tap\'s [B, T] = {tuple(feat.shape[:2])}')
        mask = token_mask(taps, feat.shape[2])
        # masked_fill (not a product) so that garbage, even non-finite, never leaks.
        return self.proj(feat).masked_fill(~mask[..., None], 0.0), mask

    def forward(self, taps: TapOutput) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pool the last tap into the head input.

        Args:
            taps (TapOutput): the backbone output.

        Returns:
            tuple: ``feats [B, C, L]`` and ``mask [B, L]`` bool, ``L = T * T_N``.
        """
        pooled, mask = self.pool(taps)
        return (rearrange(pooled, 'b t n c -> b c (t n)'),
                rearrange(mask, 'b t n -> b (t n)'))
