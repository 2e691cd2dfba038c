"""UniPT as a TAL neck: Diao et al., "UniPT: Universal Parallel Tuning for Transfer
Learning with Efficient Parameter and Memory", CVPR 2024 (code: github.com/Paranioar/UniPT).

UniPT is a lightweight network *parallel* to the frozen backbone: it reads the
backbone's intermediate activations, detached, so no gradient (and no activation
memory) goes into the backbone -- here it is a neck over the layer-tap backbone's
``TapOutput``, like :class:`LoSANeck`. Sec. 3 of the paper, following the released
transformer version (``VSE-infty/lib/adapter_for_transformer.py``):

* every tapped layer ``i`` (the last, ``N``, included) is mapped to a common width
  ``m = C_out / downsample_factor``: ``D_i = LN(F_i W_i)``; ``A = D_N`` is the anchor;
* parallel interaction (per intermediate layer): a parameter-free cross-attention from
  the anchor's tokens to layer ``i``'s tokens, ReLU scores L1-normalised over the keys,
  plus the identity: ``M_i = (l1norm(ReLU(A D_i^T)) + I) D_i``;
* confidence aggregation: ``c_i = w_g . (mean(A) * mean(D_i))``, softmax over the
  layers, ``M = sum_i softmax(c)_i M_i``;
* output ``Up(ReLU(A + LN(M W_p)))`` (``Up: m -> C_out``).

Reading for TAL video backbones (docs/baselines.md): which tokens form one sequence.
``token_scope='frame'`` (default): the ``H_N * W_N`` spatial tokens of one temporal
token (tubelet), as UniPT's own video application (CLIP4Clip) runs it per frame;
``'clip'``: all ``T_N * H_N * W_N`` tokens of one clip (one backbone forward), whose
``[M, M]`` scores per clip and layer cost ``T_N`` times more. The output tokens are then
averaged over space into the head's ``[B, C, T*T_N]`` grid, as the head-only features
are. The ``+ I`` term needs every layer on the last layer's token grid: taps on other
grids (SlowFast's stages and fast pathway) are average-pooled to it first (the released
CNN version pools earlier, larger maps to the last one's size too, with a learned
re-weighting that is not built here).
``downsample_factor=2`` is the released default (``--img_downsample_D_factor``). The
gate's bias is kept as released though a softmax over layers ignores it (it gets no
gradient).
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from einops import rearrange
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmaction.registry import MODELS

from ..backbones.tap_output import TapOutput, token_mask

TOKEN_SCOPES = ('frame', 'clip')


def l1_normalise(x: Tensor, dim: int = -1, eps: float = 1e-6) -> Tensor:
    """``x / max(sum |x|, eps)`` along ``dim`` (the released ``l1norm``)."""
    return x / x.abs().sum(dim=dim, keepdim=True).clamp(min=eps)


@MODELS.register_module()
class UniPTNeck(BaseModule):
    """UniPT parallel network over the frozen backbone's taps (see module docstring).

    Args:
        in_channels (int | list[int]): ``C_i`` per tap (an int: all alike, then
            ``layer_ids`` gives the number of taps). The detector fills it from the
            backbone.
        layer_ids (list[int], optional): the tapped layer ids (checked at run time).
        temporal_sizes (int | list[int], optional): ``T_i`` per tap (accepted so the
            detector can fill it; taps on other grids are pooled to the last one's).
        out_channels (int, optional): output width ``C_out``; defaults to ``C_N``.
        downsample_factor (int): ``m = C_out // downsample_factor``. Defaults to 2.
        mapping_channels (int, optional): ``m`` directly. Defaults to None.
        token_scope (str): ``'frame'`` or ``'clip'``, the tokens of one interaction
            (module docstring). Defaults to ``'frame'``.
        init_cfg (dict, optional): mmengine init config.

    Input: ``TapOutput`` (at least two taps; the last is layer N).
    Output: ``(feats [B, C_out, T * T_N], mask [B, T * T_N])``, zero at invalid tokens.
    """

    def __init__(self, in_channels: Union[int, Sequence[int]],
                 layer_ids: Optional[Sequence[int]] = None,
                 temporal_sizes: Optional[Union[int, Sequence[int]]] = None,
                 out_channels: Optional[int] = None, downsample_factor: int = 2,
                 mapping_channels: Optional[int] = None, token_scope: str = 'frame',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if token_scope not in TOKEN_SCOPES:
            raise ValueError(f'UniPTNeck: token_scope must be one of {TOKEN_SCOPES}, got '
                             f'{token_scope!r}')
        self.token_scope = token_scope
        if isinstance(in_channels, int):
            if layer_ids is None:
                raise ValueError('UniPTNeck: with an int in_channels, layer_ids must give '
                                 'the taps')
            in_channels = [in_channels] * len(layer_ids)
        self.in_channels = [int(c) for c in in_channels]
        if len(self.in_channels) < 2:
            raise ValueError('UniPTNeck: needs at least two taps (intermediate layers and '
                             f'the last), got {len(self.in_channels)}; tap every layer '
                             '(backbone tap_layers=None)')
        self.layer_ids = None if layer_ids is None else [int(i) for i in layer_ids]
        if self.layer_ids is not None and len(self.layer_ids) != len(self.in_channels):
            raise ValueError(f'UniPTNeck: {len(self.layer_ids)} layer_ids for '
                             f'{len(self.in_channels)} in_channels')
        self.out_channels = int(out_channels or self.in_channels[-1])
        if mapping_channels is None:
            if downsample_factor < 1 or self.out_channels % downsample_factor:
                raise ValueError(f'UniPTNeck: downsample_factor={downsample_factor} must '
                                 f'divide out_channels={self.out_channels}')
            mapping_channels = self.out_channels // downsample_factor
        m = int(mapping_channels)
        self.mapping_channels = m
        self.down = nn.ModuleList(nn.Sequential(nn.Linear(c, m), nn.LayerNorm(m))
                                  for c in self.in_channels)
        self.proj = nn.Sequential(nn.Linear(m, m), nn.LayerNorm(m))
        self.up = nn.Sequential(nn.ReLU(), nn.Linear(m, self.out_channels))
        self.gate = nn.Linear(m, 1)

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _on_grid(feat: Tensor, grid: Tuple[int, ...]) -> Tensor:
        """``[B, T, t, (h, w,) C]`` -> clip tokens ``[B*T, prod(grid), C]`` on ``grid``
        (average-pooled when the tap's grid differs)."""
        x = feat.flatten(0, 1)
        if tuple(x.shape[1:-1]) != tuple(grid):
            if x.dim() != len(grid) + 2:
                raise ValueError(f'UniPTNeck: cannot pool a tap of shape {tuple(feat.shape)} '
                                 f'onto the last layer\'s grid {grid}')
            chan_first = x.movedim(-1, 1)
            pool = F.adaptive_avg_pool3d if len(grid) == 3 else F.adaptive_avg_pool1d
            x = pool(chan_first.float(), grid).movedim(1, -1)
        return x.reshape(x.shape[0], -1, x.shape[-1])

    def _check(self, taps: TapOutput) -> None:
        if len(taps.feats) != len(self.in_channels):
            raise ValueError(f'UniPTNeck: got {len(taps.feats)} taps, built for '
                             f'{len(self.in_channels)}')
        if self.layer_ids is not None and list(taps.layer_ids) != self.layer_ids:
            raise ValueError(f'UniPTNeck: TapOutput.layer_ids {list(taps.layer_ids)} differ '
                             f'from the configured {self.layer_ids}')
        for k, (f, c) in enumerate(zip(taps.feats, self.in_channels)):
            if f.dim() not in (4, 6) or f.shape[-1] != c:
                raise ValueError(f'UniPTNeck: tap {k} must be [B, T, T_i, (H_i, W_i,) C_i] '
                                 f'with C_i={c}, got {tuple(f.shape)}')

    def interact(self, feats: List[Tensor]) -> Tensor:
        """Parallel interaction, confidence aggregation and output projection.

        Args:
            feats: per tap ``[B, T, T_i, (H_i, W_i,) C_i]``.

        Returns:
            ``[B*T, M, C_out]`` tokens on the last tap's grid (``M`` per clip).
        """
        dtype = self.gate.weight.dtype
        grid = tuple(feats[-1].shape[2:-1])
        # one sequence a clip, or a temporal token (its spatial positions)
        seqs = 1 if self.token_scope == 'clip' else grid[0]

        def down(k: int) -> Tensor:                                       # [S, L, m]
            x = self._on_grid(feats[k], grid)
            x = x.reshape(x.shape[0] * seqs, -1, x.shape[-1])
            lin, norm = self.down[k]
            # project 16-bit taps in their own precision (no float32 copy of a tap)
            y = F.linear(x, lin.weight.to(x.dtype), lin.bias.to(x.dtype))
            return norm(y.to(dtype))

        anchor = down(len(feats) - 1)                                      # [S, L, m]
        anchor_mean = anchor.mean(dim=1)
        merged, confidence = [], []
        for k in range(len(feats) - 1):
            d = down(k)                                                    # [S, L, m]
            weights = l1_normalise(torch.relu(anchor @ d.transpose(1, 2)))
            merged.append(weights @ d + d)                                  # (W + I) D
            confidence.append(self.gate(anchor_mean * d.mean(dim=1)))       # [S, 1]
        weights = torch.softmax(torch.cat(confidence, dim=1), dim=1)        # [S, N-1]
        fused = (torch.stack(merged, dim=1) * weights[:, :, None, None]).sum(dim=1)
        out = self.up(anchor + self.proj(fused))                            # [S, L, C]
        return out.reshape(out.shape[0] // seqs, -1, out.shape[-1])

    def forward(self, taps: TapOutput) -> Tuple[Tensor, Tensor]:
        """Args:
            taps (TapOutput): backbone taps and masks.

        Returns:
            tuple: ``feats [B, C_out, T * T_N]`` and ``mask [B, T * T_N]`` bool.
        """
        self._check(taps)
        last = taps.feats[-1]
        b, t, t_n = last.shape[:3]
        out = self.interact(list(taps.feats))                          # [BT, M, C]
        out = rearrange(out, '(b t) (n s) c -> b t n s c', b=b, t=t, n=t_n).mean(dim=3)
        mask = token_mask(taps, t_n)
        out = out.masked_fill(~mask[..., None], 0.0)
        return rearrange(out, 'b t n c -> b c (t n)'), rearrange(mask, 'b t n -> b (t n)')
