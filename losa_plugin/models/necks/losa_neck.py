"""LoSA neck: spatial blocks, long/short-range adapters, temporal align and fusion.

Adapter output (``adapter_output``, docs/method.md "Adapter output"):

* ``'residual'`` (default, the paper's): each adapter transforms the intermediate
  features, ``FS_i = F'_i + CrossAttn(F'_i, F'_N)`` (likewise ``FL_i``), in the query's
  space ``[.., T_i, C'_i]``; a ``Linear(C'_i, C)`` per layer (shared by its two
  adapters; identity when ``C'_i = C``) and the temporal align bring it to the fusion's
  ``[.., T_N, C]``.
* ``'attention'``: the attention output alone (values from the last layer only),
  projected ``d -> C`` directly: the previous reading, an ablation.

Shared query projection (``share_query``, default True): a layer's short- and long-range
adapters read the same ``F'_i``, so one ``Linear(C'_i, d_i)`` projects their queries
(7 matrices a layer instead of 8; this brings ViT-g's neck to the paper's 143 M).

Adapter width (``adapter_width``):

* ``'tap'`` (default): layer i's spatial block keeps its own width ``C_i``; the
  adapters' bottleneck is ``d_i = bottleneck_width(C_i, adapter_ratio, n_heads)``;
  K/V project the last layer's reduced features ``C -> d_i``. Parameters and
  activation memory scale with each layer's width, so the narrow early layers of a CNN
  cost little (the reading nearer the paper's 12 M for SlowFast-101).
* ``'neck'``: every tap is first projected ``C_i -> C`` by its spatial block and the
  adapters run at ``C`` with ``d = bottleneck_width(C, ...)``.

For a ViT every ``C_i = C`` and both choices build the same modules.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from einops import rearrange
from mmengine.model import BaseModule
from torch import nn

from mmaction.registry import MODELS

from ..backbones.tap_output import TapOutput, token_mask
from .bottleneck_cross_attention import bottleneck_width
from .cross_attention_adapter import ADAPTER_OUTPUTS
from .last_layer_neck import LastLayerNeck
from .long_range_adapter import LongRangeAdapter
from .long_short_fusion import LongShortFusion
from .short_range_adapter import ShortRangeAdapter
from .spatial_reduction import SpatialReduction
from .temporal_align import TemporalAlign


ADAPTER_WIDTHS = ('tap', 'neck')


def _per_tap(value, num_taps: int, name: str) -> List:
    if isinstance(value, (list, tuple)):
        if len(value) != num_taps:
            raise ValueError(f'LoSANeck: {name} has {len(value)} entries, one per tap '
                             f'({num_taps}) expected')
        return list(value)
    return [value] * num_taps


@MODELS.register_module()
class LoSANeck(BaseModule):
    """Long-Short-range Adapter neck (LoSA, Figure 2), beside a frozen backbone.

    For each adapted intermediate layer i and the last layer N (all ``[B, T, T_i,
    H_i, W_i, C_i]`` taps of ``T`` clips)::

        F_N  = LastLayerNeck(taps)            # backbone-pooled last layer, [B, T, T_N, C]
        F'_N = SpatialReduction_N(tap_N)                       # [B, T, T_N, C]
        F'_i = SpatialReduction_i(tap_i)                       # [B, T, T_i, C'_i]
        FS_i = Align_i(P_i(F'_i + ShortAttn_i(F'_i, F'_N)))    # [B, T, T_N, C]
        FL_i = Align_i(P_i(F'_i + LongAttn_i(F'_i, F'_N)))
        FT   = LongShortFusion(F_N, [FS_i], [FL_i])            # [B, T, T_N, C]

    (``P_i``: ``Linear(C'_i, C)``, identity when ``C'_i = C``; with
    ``adapter_output='attention'`` the ``F'_i +`` and ``P_i`` go and the attention
    output is projected to ``C``.) ``C'_i = C_i`` with ``adapter_width='tap'`` and
    ``C'_i = C`` with ``'neck'`` (module docstring). Weights of layer i's two adapters
    with a shared query projection: ``C'_i d_i + 4 C d_i + 2 d_i C'_i`` (+ ``P_i``).

    ``F_N`` is computed by the same :class:`LastLayerNeck` the baselines use: the
    backbone's own pooled output of the last tap (``TapOutput.pooled_last``; VideoMAEv2:
    the pretrained ``fc_norm`` of the spatial mean), projected to ``C`` only when
    ``out_channels != C_N``; the convolutional spatial blocks feed the adapters only
    (``F'_N`` is the keys/values). So with zero gates ``FT`` equals ``LastLayerNeck``'s
    output exactly, and the head starts from the head-only features.

    Args:
        in_channels (int | list[int]): ``C_i`` per tap (an int: all taps alike; then
            ``layer_ids`` gives the number of taps).
        layer_ids (list[int], optional): the layer ids the backbone taps, ascending
            (the last is N). Checked against ``TapOutput.layer_ids`` at run time; needed
            for ``adapter_layers`` given as ids. Defaults to None (tap positions).
        temporal_sizes (int | list[int], optional): ``T_i`` per tap; needed only when
            some ``T_i`` differ from ``T_N`` (builds the learnable temporal align).
            Defaults to None (every tap has ``T_N`` tokens per clip).
        out_channels (int, optional): neck width ``C``. Defaults to ``C_N``, and then
            the last layer gets no projection.
        adapter_layers (str | list[int]): ``'all'`` intermediate taps, or a list of
            layer ids (e.g. ``list(range(21, 40))``). Defaults to ``'all'``.
        n_heads (int): heads of every adapter. Defaults to 4.
        adapter_ratio (float): adapter bottleneck ``d_i / C'_i``. Defaults to 0.25.
        adapter_width (str): ``'tap'`` (adapters in each layer's own width ``C_i``)
            or ``'neck'`` (taps projected to ``C`` first). Defaults to ``'tap'``.
        adapter_output (str): ``'residual'`` (``F'_i + CrossAttn``, the paper's) or
            ``'attention'`` (the attention output alone). Defaults to ``'residual'``.
        share_query (bool): one query projection per layer for both adapters.
            Defaults to True.
        short_range_clips (int, optional): clips each side the short-range adapter
            sees; None = all (the literal reading). Defaults to 1.
        use_short (bool): build the short-range adapters. Defaults to True.
        use_long (bool): build the long-range adapters. Defaults to True.
        fusion (str): ``'gated'`` or ``'add'`` (w/o fusion). Defaults to ``'gated'``.
        gate_init (str): ``'zero'``, ``'one'``, ``'random'`` (learnable gates) or
            ``'cosine_layer'`` / ``'cosine_token'`` (parameter-free similarity with
            ``F_N``, per layer / per token). Defaults to ``'zero'``.
        spatial_cfg (dict, optional): kwargs of :class:`SpatialReduction`
            (``mode``, ``kernel_size``, ``norm``). Defaults to ``dict(mode='conv',
            kernel_size=3)``.
        pos_encoding (bool): sinusoidal positions in the adapters, a complete encoding
            per attention head. Defaults to True.
        pos_max_period (float): the encoding's longest period, in last-layer tokens
            (the shortest is 2.5). Defaults to 10000; with few frequencies a head
            (narrow adapters), a few windows' length keeps them all informative.
        dropout (float): dropout on each adapter's attention output. Defaults to 0.
        init_cfg (dict, optional): mmengine init config; the identity-at-init
            parameters (gates, Proj, align) are re-applied after it.

    Input: ``TapOutput``. Output: ``(feats [B, C, T * T_N], mask [B, T * T_N])``, zero
    at invalid tokens (padded clips and the padding frames of a partly padded clip).
    With ``use_short=use_long=False`` it reduces to ``LastLayerNeck``.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 layer_ids: Optional[Sequence[int]] = None,
                 temporal_sizes: Optional[Union[int, Sequence[int]]] = None,
                 out_channels: Optional[int] = None,
                 adapter_layers: Union[str, Sequence[int]] = 'all',
                 n_heads: int = 4,
                 adapter_ratio: float = 0.25,
                 adapter_width: str = 'tap',
                 adapter_output: str = 'residual',
                 share_query: bool = True,
                 short_range_clips: Optional[int] = 1,
                 use_short: bool = True,
                 use_long: bool = True,
                 fusion: str = 'gated',
                 gate_init: str = 'zero',
                 spatial_cfg: Optional[dict] = None,
                 pos_encoding: bool = True,
                 pos_max_period: float = 10000.0,
                 dropout: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, int):
            if layer_ids is None:
                raise ValueError('LoSANeck: with an int in_channels, layer_ids must give '
                                 'the taps (e.g. layer_ids=list(range(12)))')
            num_taps = len(layer_ids)
        else:
            num_taps = len(in_channels)
        if num_taps < 1:
            raise ValueError('LoSANeck: at least one tap is needed')
        self.in_channels = _per_tap(in_channels, num_taps, 'in_channels')
        self.layer_ids = None if layer_ids is None else [int(i) for i in layer_ids]
        if self.layer_ids is not None:
            if len(self.layer_ids) != num_taps:
                raise ValueError(f'LoSANeck: layer_ids has {len(self.layer_ids)} entries, '
                                 f'in_channels {num_taps}')
            if sorted(set(self.layer_ids)) != self.layer_ids:
                raise ValueError(f'LoSANeck: layer_ids must be ascending and unique, got '
                                 f'{self.layer_ids}')
        self.temporal_sizes = (None if temporal_sizes is None
                               else _per_tap(temporal_sizes, num_taps, 'temporal_sizes'))
        self.num_taps = num_taps
        c_last = self.in_channels[-1]
        self.out_channels = c_last if out_channels is None else int(out_channels)
        self.use_short = bool(use_short)
        if adapter_width not in ADAPTER_WIDTHS:
            raise ValueError(f'LoSANeck: adapter_width must be one of {ADAPTER_WIDTHS}, '
                             f'got {adapter_width!r}')
        self.adapter_width = adapter_width
        if adapter_output not in ADAPTER_OUTPUTS:
            raise ValueError(f'LoSANeck: adapter_output must be one of {ADAPTER_OUTPUTS}, '
                             f'got {adapter_output!r}')
        self.adapter_output = adapter_output
        self.use_long = bool(use_long)
        self.share_query = bool(share_query) and self.use_short and self.use_long

        names = self._tap_names()
        self.adapter_taps = self._resolve_adapter_layers(adapter_layers)
        self.adapter_names = [names[i] for i in self.adapter_taps]

        # F_N: the same pooling as the baselines' neck.
        self.last_layer = LastLayerNeck(c_last, self.out_channels)

        self.has_adapters = bool(self.adapter_taps) and (self.use_short or self.use_long)
        spatial_cfg = dict(mode='conv', kernel_size=3) if spatial_cfg is None else dict(spatial_cfg)
        c = self.out_channels
        # Width of each adapted layer's reduced features (= its adapters' queries).
        self.query_channels = [self.in_channels[i] if adapter_width == 'tap' else c
                               for i in self.adapter_taps]
        if self.has_adapters:
            self.spatial_last = SpatialReduction(c_last, c, **spatial_cfg)
            self.spatial = nn.ModuleList(
                SpatialReduction(self.in_channels[i], cq, **spatial_cfg)
                for i, cq in zip(self.adapter_taps, self.query_channels))
            adapter = dict(n_heads=n_heads, adapter_ratio=adapter_ratio,
                           pos_encoding=pos_encoding, pos_max_period=pos_max_period,
                           dropout=dropout,
                           output=adapter_output, project_query=not self.share_query)
            self.short_adapters = nn.ModuleList(
                ShortRangeAdapter(c, short_range_clips=short_range_clips,
                                  query_channels=cq, **adapter)
                for cq in self.query_channels) if self.use_short else None
            self.long_adapters = nn.ModuleList(
                LongRangeAdapter(c, query_channels=cq, **adapter)
                for cq in self.query_channels) if self.use_long else None
            # one query projection per layer, read by both of its adapters
            self.query_projs = nn.ModuleList(
                nn.Linear(cq, bottleneck_width(cq, adapter_ratio, n_heads))
                for cq in self.query_channels) if self.share_query else None
            # the residual output lives in the query's width; bring it to C
            self.out_projs = nn.ModuleList(
                nn.Linear(cq, c) if adapter_output == 'residual' and cq != c
                else nn.Identity() for cq in self.query_channels)
            t_last = None if self.temporal_sizes is None else self.temporal_sizes[-1]
            self.aligns = nn.ModuleList(
                TemporalAlign(self.temporal_sizes[i], t_last)
                if t_last is not None and self.temporal_sizes[i] != t_last else nn.Identity()
                for i in self.adapter_taps)
            self.fusion = LongShortFusion(c, len(self.adapter_taps), self.use_short,
                                          self.use_long, fusion, gate_init)
        else:
            # Still validate the names so that a typo fails at build time.
            LongShortFusion(c, 1, True, True, fusion, gate_init)

    # ----------------------------------------------------------------- set-up
    def _tap_names(self) -> List[str]:
        if self.layer_ids is None:
            return [f'tap{i}' for i in range(self.num_taps)]
        return [f'layer{i}' for i in self.layer_ids]

    def _resolve_adapter_layers(self, adapter_layers) -> List[int]:
        """Tap positions (not ids) that get adapters; never the last tap."""
        intermediate = list(range(self.num_taps - 1))
        if adapter_layers == 'all':
            return intermediate
        if isinstance(adapter_layers, str) or not isinstance(adapter_layers, (list, tuple)):
            raise ValueError("LoSANeck: adapter_layers must be 'all' or a list of layer ids, "
                             f'got {adapter_layers!r}')
        ids = self.layer_ids if self.layer_ids is not None else list(range(self.num_taps))
        taps = []
        for lid in adapter_layers:
            if lid not in ids[:-1]:
                raise ValueError(f'LoSANeck: adapter layer {lid} is not an intermediate tap; '
                                 f'tapped layers are {ids} (the last, {ids[-1]}, is layer N)')
            taps.append(ids.index(lid))
        return sorted(set(taps))

    def init_weights(self) -> None:
        """mmengine init, then re-apply what makes the neck the identity at init."""
        super().init_weights()
        if self.has_adapters:
            self.fusion.reset_parameters()
            for align in self.aligns:
                if isinstance(align, TemporalAlign):
                    align.reset_parameters()

    # ---------------------------------------------------------------- forward
    def _check(self, taps: TapOutput) -> None:
        feats, layer_ids, clip_mask = taps.feats, taps.layer_ids, taps.clip_mask
        positions = list(range(self.num_taps))
        if taps.clip_reduced is not None:  # reduce_clip_taps ran in the clip loop
            feats = taps.clip_reduced
            positions = self.adapter_taps + [self.num_taps - 1] if self.has_adapters else []
            if len(feats) != len(positions):
                raise ValueError(f'LoSANeck: TapOutput.clip_reduced has {len(feats)} '
                                 f'entries, reduce_clip_taps gives {len(positions)}')
        elif len(feats) != self.num_taps:
            raise ValueError(f'LoSANeck: got {len(feats)} taps, built for {self.num_taps}')
        if self.layer_ids is not None and list(layer_ids) != self.layer_ids:
            raise ValueError(f'LoSANeck: TapOutput.layer_ids {list(layer_ids)} differ from '
                             f'the configured layer_ids {self.layer_ids}')
        if clip_mask.dim() != 2:
            raise ValueError(f'LoSANeck: clip_mask must be [B, T], got {tuple(clip_mask.shape)}')
        t_last = feats[-1].shape[2] if feats else None
        for k, f in zip(positions, feats):
            if f.dim() not in (4, 6) or tuple(f.shape[:2]) != tuple(clip_mask.shape):
                raise ValueError(f'LoSANeck: tap {k} must be [B, T, T_i, H_i, W_i, C_i] or '
                                 f'[B, T, T_i, C_i] with [B, T] = {tuple(clip_mask.shape)}, '
                                 f'got {tuple(f.shape)}')
            expected = t_last if self.temporal_sizes is None else self.temporal_sizes[k]
            if f.shape[2] != expected:
                raise ValueError(f'LoSANeck: tap {k} has T_i={f.shape[2]}, expected {expected} '
                                 '(set temporal_sizes when a tap\'s T_i differs from T_N)')

    def forward(self, taps: TapOutput) -> Tuple[torch.Tensor, torch.Tensor]:
        """Args:
            taps (TapOutput): backbone taps, the ``[B, T]`` clip mask and optionally the
                ``[B, T, T']`` frame mask and the backbone-pooled last layer.

        Returns:
            tuple: ``feats [B, C, L]`` and ``mask [B, L]`` bool, ``L = T * T_N``.
        """
        self._check(taps)
        feats = taps.feats
        pre = taps.clip_reduced  # the spatial blocks' outputs, when run per clip already
        f_last, last_mask = self.last_layer.pool(taps)  # [B, T, T_N, C], [B, T, T_N]
        out = f_last
        if self.has_adapters:
            kv = self.spatial_last(feats[-1]) if pre is None else pre[-1]
            kv = kv.masked_fill(~last_mask[..., None], 0.0)
            short, long = [], []
            for k, tap in enumerate(self.adapter_taps):
                q = self.spatial[k](feats[tap]) if pre is None else pre[k]  # [B, T, T_i, C'_i]
                q_mask = token_mask(taps, q.shape[2])  # [B, T, T_i]
                q = q.masked_fill(~q_mask[..., None], 0.0)
                q_proj = self.query_projs[k](q) if self.share_query else None
                for adapters, outs in ((self.short_adapters, short),
                                       (self.long_adapters, long)):
                    if adapters is not None:
                        y = adapters[k](q, kv, q_mask, last_mask, q=q_proj)
                        outs.append(self.aligns[k](self.out_projs[k](y)))
            out = self.fusion(f_last, short, long, last_mask)
            out = out.masked_fill(~last_mask[..., None], 0.0)
        return (rearrange(out, 'b t n c -> b c (t n)'),
                rearrange(last_mask, 'b t n -> b (t n)'))

    def reduce_clip_taps(self, taps: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """The spatial blocks on one micro-batch of clips, for a backbone that runs them
        inside its clip loop (``tap_recompute=True``: ``TALDetector`` hands this method
        to the backbone; the results come back as ``TapOutput.clip_reduced``). The
        blocks never mix clips, so this is :meth:`forward`'s reduction, clip by clip.

        Args:
            taps: one per tapped layer, ``[n, T_i, H_i, W_i, C_i]`` (or the stored
                form ``[n, T_i, p, p, C_i]`` / ``[n, T_i, C_i]``) of ``n`` clips.

        Returns:
            list[Tensor]: ``F'_i`` ``[n, T_i, C'_i]`` per adapted layer, then ``F'_N``
            ``[n, T_N, C]``; empty without adapters (only ``F_N`` is needed then).
        """
        if len(taps) != self.num_taps:
            raise ValueError(f'LoSANeck.reduce_clip_taps: got {len(taps)} taps, built for '
                             f'{self.num_taps}')
        if not self.has_adapters:
            return []
        blocks = list(zip(self.spatial, self.adapter_taps)) + [(self.spatial_last,
                                                                self.num_taps - 1)]
        # n clips as a batch of n one-clip windows: [n, 1, T_i, ...] -> [n, 1, T_i, C']
        return [block(taps[i].unsqueeze(1)).squeeze(1) for block, i in blocks]

    def gate_values(self) -> Dict[str, float]:
        """Current gate per adapted layer, ``{'short/layer5': p, 'long/layer5': p, ...}``
        (names ``tap<k>`` when ``layer_ids`` is not configured); empty without adapters."""
        if not self.has_adapters:
            return {}
        return self.fusion.gate_values(self.adapter_names)
