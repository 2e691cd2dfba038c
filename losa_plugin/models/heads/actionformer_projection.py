"""ActionFormer's feature pyramid encoder ('convTransformer'): conv embedding, stem
transformer blocks, then downsampling transformer blocks."""
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmaction.registry import MODELS

from .channel_layer_norm import ChannelLayerNorm
from .masked_conv1d import MaskedConv1D, as_time_mask
from .masked_transformer_block import MaskedTransformerBlock


@MODELS.register_module()
class ActionFormerProjection(BaseModule):
    """Turns ``[B, C_in, L]`` features into a pyramid of ``len(arch[2]) + 1`` levels,
    level ``l`` being ``[B, C, L / scale_factor**l]``.

    Layout: ``arch[0]`` × (MaskedConv1D k=``embed_kernel_size`` → LayerNorm → ReLU),
    ``arch[1]`` stride-1 :class:`MaskedTransformerBlock` (level 0), then ``arch[2]``
    blocks of stride ``scale_factor``, each adding one level.

    Args:
        in_channels (int): C_in.
        embed_dims (int): C. Defaults to 512.
        arch (tuple[int]): (#embedding convs, #stem blocks, #downsampling blocks).
            Defaults to (2, 2, 5).
        num_heads (int): attention heads. Defaults to 4.
        window_size (int | Sequence[int]): local attention window per level (one int
            for all, or ``len(arch[2]) + 1`` values); -1 = global. Defaults to 19.
        scale_factor (int): downsampling between levels. Defaults to 2.
        embed_kernel_size (int): kernel of the embedding convs. Defaults to 3.
        embed_with_ln (bool): LayerNorm after each embedding conv. Defaults to True.
        attn_drop (float): Defaults to 0.0.
        proj_drop (float): Defaults to 0.0.
        drop_path (float): Defaults to 0.1.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, in_channels: int, embed_dims: int = 512,
                 arch: Sequence[int] = (2, 2, 5), num_heads: int = 4,
                 window_size: Union[int, Sequence[int]] = 19, scale_factor: int = 2,
                 embed_kernel_size: int = 3, embed_with_ln: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, drop_path: float = 0.1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(arch) != 3:
            raise ValueError(f'ActionFormerProjection: arch must be (#convs, #stem, '
                             f'#branch), got {arch}')
        num_levels = arch[2] + 1
        windows = [window_size] * num_levels if isinstance(window_size, int) else list(window_size)
        if len(windows) != num_levels:
            raise ValueError(f'ActionFormerProjection: window_size needs {num_levels} '
                             f'values (len(arch[2]) + 1), got {window_size}')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.num_levels = num_levels
        self.scale_factor = scale_factor
        self.embed = nn.ModuleList()
        self.embed_norm = nn.ModuleList()
        for i in range(arch[0]):
            self.embed.append(MaskedConv1D(in_channels if i == 0 else embed_dims, embed_dims,
                                           embed_kernel_size, bias=not embed_with_ln))
            self.embed_norm.append(ChannelLayerNorm(embed_dims) if embed_with_ln else nn.Identity())
        block = dict(embed_dims=embed_dims, num_heads=num_heads, attn_drop=attn_drop,
                     proj_drop=proj_drop, drop_path=drop_path)
        self.stem = nn.ModuleList(
            MaskedTransformerBlock(window_size=windows[0], stride=1, **block)
            for _ in range(arch[1]))
        self.branch = nn.ModuleList(
            MaskedTransformerBlock(window_size=windows[i + 1], stride=scale_factor, **block)
            for i in range(arch[2]))
        self.relu = nn.ReLU()
        self._zero_biases()

    def _zero_biases(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)) and m.bias is not None:
                nn.init.zeros_(m.bias)

    @property
    def pad_multiple(self) -> int:
        """The input length must be a multiple of this."""
        return self.scale_factor ** (self.num_levels - 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor
                ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """
        Args:
            x (Tensor): ``[B, C_in, L]``; L a multiple of :attr:`pad_multiple`.
            mask (Tensor): ``[B, L]`` bool, True = valid.

        Returns:
            tuple: per level ``feats [B, C, L_l]`` and ``masks [B, L_l]`` (lists).
        """
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f'ActionFormerProjection: expected [B, {self.in_channels}, L] '
                             f'features, got {tuple(x.shape)}')
        if x.shape[-1] % self.pad_multiple:
            raise ValueError(f'ActionFormerProjection: length L={x.shape[-1]} must be '
                             f'divisible by {self.pad_multiple} (scale_factor ** '
                             f'{self.num_levels - 1}); pad the input (pad_multiple)')
        mask = as_time_mask(mask, x.shape[0], x.shape[-1], 'ActionFormerProjection')
        for conv, norm in zip(self.embed, self.embed_norm):
            x, mask = conv(x, mask)
            # Re-zero after the norm so padded steps stay exactly zero.
            x = self.relu(norm(x)) * mask[:, None].to(x.dtype)
        for blk in self.stem:
            x, mask = blk(x, mask)
        feats, masks = [x], [mask]
        for blk in self.branch:
            x, mask = blk(x, mask)
            feats.append(x)
            masks.append(mask)
        return feats, masks
