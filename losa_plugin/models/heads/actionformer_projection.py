"""ActionFormer's feature pyramid encoder ('convTransformer'): conv embedding, stem
transformer blocks, then downsampling transformer blocks."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmaction.registry import MODELS
from torch.utils.checkpoint import checkpoint

from .channel_layer_norm import ChannelLayerNorm
from .masked_conv1d import MaskedConv1D, as_time_mask, input_mask
from .masked_transformer_block import MaskedTransformerBlock


@MODELS.register_module()
class ActionFormerProjection(BaseModule):
    """Turns ``[B, C_in, L]`` features into a pyramid of ``len(arch[2]) + 1`` levels,
    level ``l`` being ``[B, C, L / scale_factor**l]``.

    Layout: ``arch[0]`` × (MaskedConv1D k=``embed_kernel_size`` → LayerNorm → ReLU),
    ``arch[1]`` stride-1 :class:`MaskedTransformerBlock` (level 0), then ``arch[2]``
    blocks of stride ``scale_factor``, each adding one level. With ``use_abs_pe`` a
    fixed sinusoidal position embedding (scaled by ``1 / sqrt(C)``) is added after the
    embedding, as ActionFormer does on ActivityNet.

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
        use_abs_pe (bool): add the absolute position embedding. Defaults to False.
        max_seq_len (int, optional): length of the position embedding table (needed
            with ``use_abs_pe``); longer sequences interpolate it linearly.
        with_cp (bool): activation checkpointing of each transformer block in
            training: its activations are recomputed in the backward pass (drop path
            draws the same masks again); saves memory on long sequences for one more
            forward of the blocks. Defaults to False.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, in_channels: int, embed_dims: int = 512,
                 arch: Sequence[int] = (2, 2, 5), num_heads: int = 4,
                 window_size: Union[int, Sequence[int]] = 19, scale_factor: int = 2,
                 embed_kernel_size: int = 3, embed_with_ln: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, drop_path: float = 0.1,
                 use_abs_pe: bool = False, max_seq_len: Optional[int] = None,
                 with_cp: bool = False, init_cfg=None) -> None:
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
        self.with_cp = with_cp
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
        self.use_abs_pe = use_abs_pe
        if use_abs_pe:
            if not max_seq_len or max_seq_len < 1:
                raise ValueError('ActionFormerProjection: use_abs_pe needs max_seq_len '
                                 f'(the table length), got {max_seq_len!r}')
            # Not saved: a fixed function of (max_seq_len, embed_dims), as in ActionFormer.
            self.register_buffer('pos_embed', sinusoid_table(max_seq_len, embed_dims)
                                 / math.sqrt(embed_dims), persistent=False)

    def _zero_biases(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)) and m.bias is not None:
                nn.init.zeros_(m.bias)

    @property
    def pad_multiple(self) -> int:
        """The input length must be a multiple of this."""
        return self.scale_factor ** (self.num_levels - 1)

    def _position_embedding(self, x: torch.Tensor, mask: torch.Tensor,
                            array_len: torch.Tensor) -> torch.Tensor:
        """``x + pe * mask``: sample b reads the table's first ``array_len[b]`` entries,
        or the table resampled to ``array_len[b]`` when that is longer (as ActionFormer
        does for the whole padded input at test time)."""
        table = self.pos_embed.to(x.dtype)  # [C, N]
        length = x.shape[-1]
        pe = x.new_zeros(x.shape)
        for n in torch.unique(array_len).tolist():
            rows = array_len == n
            cur = table if n <= table.shape[1] else F.interpolate(
                table[None], size=int(n), mode='linear', align_corners=False)[0]
            cur = cur[:, :length]
            pe[rows, :, :cur.shape[1]] = cur
        return x + pe * mask[:, None].to(x.dtype)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                pad_mask: Optional[torch.Tensor] = None
                ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """
        Args:
            x (Tensor): ``[B, C_in, L]``; L a multiple of :attr:`pad_multiple`.
            mask (Tensor): ``[B, L]`` bool, True = valid.
            pad_mask (Tensor, optional): ``[B, L]`` bool, the steps inside the padded
                array (read as they are by the convs and pools, see
                :class:`MaskedConv1D`); None means ``mask`` (padding-invariant).

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
        readable = input_mask(mask, pad_mask, 'ActionFormerProjection')
        for conv, norm in zip(self.embed, self.embed_norm):
            x, mask = conv(x, mask, readable)
            # Padded steps keep relu(LayerNorm(0)) inside the padded array (the next
            # conv reads them, as in ActionFormer) and are zero outside it.
            x = self.relu(norm(x)) * readable[:, None].to(x.dtype)
        if self.use_abs_pe:
            x = self._position_embedding(x, mask, readable.sum(1))
        for blk in self.stem:
            x, mask = self._block(blk, x, mask, readable)
        feats, masks = [x], [mask]
        for blk in self.branch:
            x, mask = self._block(blk, x, mask, readable)
            readable = readable[:, ::self.scale_factor]
            feats.append(x)
            masks.append(mask)
        return feats, masks


    def _block(self, blk: nn.Module, x: torch.Tensor, mask: torch.Tensor,
               readable: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.with_cp and self.training and torch.is_grad_enabled():
            return checkpoint(blk, x, mask, readable, use_reentrant=False)
        return blk(x, mask, readable)


def sinusoid_table(length: int, dims: int) -> torch.Tensor:
    """The Transformer's sinusoidal position table ``[dims, length]``: channel ``2i``
    holds ``sin(t / 10000^(2i / dims))``, channel ``2i + 1`` the cosine of the same
    angle."""
    pos = torch.arange(length, dtype=torch.float64)[None]
    rate = torch.pow(10000.0, (2 * (torch.arange(dims) // 2)).double() / dims)[:, None]
    angle = pos / rate
    table = torch.where((torch.arange(dims) % 2 == 0)[:, None], angle.sin(), angle.cos())
    return table.float()
