"""The plain last-layer neck of the head-only and full fine-tuning baselines."""
from typing import Optional, Tuple

import torch
from einops import rearrange, repeat
from mmengine.model import BaseModule
from torch import nn

from mmaction.registry import MODELS

from ..backbones.tap_output import TapOutput


@MODELS.register_module()
class LastLayerNeck(BaseModule):
    """Spatially mean-pooled features of the last tapped layer, as a head input.

    This is also LoSA's ``F_N`` ("the pooled last-layer features"): ``LoSANeck``
    holds one of these and calls :meth:`pool`, so with zero gates the two necks
    return the same tensor by construction. The head-only and full fine-tuning
    baselines use this neck alone, so the three strategies differ only by config.

    Args:
        in_channels (int, optional): ``C_N`` of the last tap; only needed together
            with ``out_channels``. Defaults to None.
        out_channels (int, optional): head width ``C``. When given and different
            from ``in_channels`` a ``Linear(C_N, C)`` follows the pooling; otherwise
            the neck is parameter-free. Defaults to None.
        norm (bool): a LayerNorm over ``C`` after the pooling (needs ``in_channels``).
            ViT taps are raw residual-stream outputs (the backbone's own final norm is
            not part of any tap), whose scale grows with depth; the norm puts the head
            input, and in ``LoSANeck`` the residual ``F_N``, on a unit scale. Defaults
            to False.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Input: ``TapOutput`` whose last ``feats`` entry is ``[B, T, T_N, H, W, C_N]``
    (or ``[B, T, T_N, C_N]`` already reduced); other taps are ignored.
    Output: ``(feats [B, C, T * T_N], mask [B, T * T_N] bool)``; positions of padded
    clips are zero.
    """

    def __init__(self, in_channels: Optional[int] = None,
                 out_channels: Optional[int] = None,
                 norm: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_channels is not None and in_channels is None:
            raise ValueError('LastLayerNeck: out_channels needs in_channels (the last '
                             f'tap\'s C_N); got out_channels={out_channels}')
        if norm and in_channels is None:
            raise ValueError('LastLayerNeck: norm=True needs in_channels (the last tap\'s '
                             'C_N) to build the LayerNorm')
        self.in_channels = in_channels
        self.out_channels = out_channels if out_channels is not None else in_channels
        if in_channels is not None and self.out_channels != in_channels:
            self.proj = nn.Linear(in_channels, self.out_channels)
        else:
            self.proj = nn.Identity()
        self.norm = nn.LayerNorm(self.out_channels) if norm else nn.Identity()

    def pool(self, feat: torch.Tensor, clip_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pool space (and project channels when configured).

        Args:
            feat (Tensor): ``[B, T, T_N, H, W, C_N]`` or ``[B, T, T_N, C_N]``.
            clip_mask (Tensor): ``[B, T]`` bool, True = valid clip.

        Returns:
            Tensor: ``[B, T, T_N, C]`` in the parameters' dtype (float32 when
            parameter-free), layer-normed with ``norm=True``, zero at padded clips.
        """
        # Taps may be stored in bf16 / fp16: accumulate the mean in the parameters'
        # dtype (float32 when parameter-free) without copying the full tap first.
        params = next(self.parameters(), None)
        dtype = params.dtype if params is not None else torch.float32
        if feat.dim() == 6:
            feat = feat.mean(dim=(3, 4), dtype=dtype)
        elif feat.dim() == 4:
            feat = feat.to(dtype)
        else:
            raise ValueError('LastLayerNeck: the last tap must be [B, T, T_N, H, W, C] or '
                             f'[B, T, T_N, C], got shape {tuple(feat.shape)}')
        if self.in_channels is not None and feat.shape[-1] != self.in_channels:
            raise ValueError(f'LastLayerNeck: the last tap has {feat.shape[-1]} channels, '
                             f'in_channels={self.in_channels} expected')
        if tuple(clip_mask.shape) != tuple(feat.shape[:2]):
            raise ValueError(f'LastLayerNeck: clip_mask shape {tuple(clip_mask.shape)} does '
                             f'not match the tap\'s [B, T] = {tuple(feat.shape[:2])}')
        feat = self.norm(self.proj(feat))
        # masked_fill (not a product) so that garbage, even non-finite, never leaks.
        return feat.masked_fill(~clip_mask[:, :, None, None], 0.0)

    def forward(self, taps: TapOutput) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pool the last tap into the head input.

        Args:
            taps (TapOutput): the backbone output.

        Returns:
            tuple: ``feats [B, C, L]`` and ``mask [B, L]`` bool, ``L = T * T_N``.
        """
        feat = taps.feats[-1]
        pooled = self.pool(feat, taps.clip_mask)
        mask = repeat(taps.clip_mask.bool(), 'b t -> b (t n)', n=pooled.shape[2])
        return rearrange(pooled, 'b t n c -> b c (t n)'), mask
