"""Layer taps over mmaction's ``ResNet3dSlowFast``.

The wrapped backbone is built from ``slowfast=dict(...)`` through ``MODELS`` and run
by **its own forward**; taps are read with forward hooks registered on the residual
stages (``slow_path.layer{s}``, ``fast_path.layer{s}``) for the duration of one call
and removed afterwards. Resampling, stems and lateral connections therefore behave
exactly as in the plain backbone. A stage tap is that stage's residual output, before
the lateral fast->slow concatenation that feeds the next slow stage.

Layer ids (1-based), for ``S`` stages (4 for R50 / R101):

* ``2s - 1``: slow pathway, stage ``s``  -> ``[T_slow, H_s, W_s, C_slow_s]``;
* ``2s``:     fast pathway, stage ``s``  -> ``[T_fast, H_s, W_s, C_fast_s]``;
* ``2S + 1`` (layer N): the fused final output used by the head-only baseline: the
  fast pathway's last stage pooled in time onto the slow steps
  (:func:`pool_fast_to_slow`) and concatenated on channels after the slow pathway's last
  stage -> ``[T_slow, H_S, W_S, C_slow + C_fast]`` (2048 + 256 = 2304 channels for
  R50 / R101, the usual SlowFast feature).

Time alignment. mmaction's slow pathway samples the clip's frames ``0, r, 2r, ...``
(``r = resample_rate``; nearest interpolation), and its convolutions are centred, so slow
step ``k`` is centred on frame ``k r``; the fast pathway keeps every
``resample_rate // speed_ratio``-th frame. The fast frames are therefore averaged with
weights centred on each slow sample (not over ``[k r, (k+1) r)``, which would sit half a
cell later), and the window sampler puts grid cell ``k`` at that sampled frame
(``SampleVideoWindow(cell_centre=0.5)`` in the SlowFast configs).

With ``resample_rate=8, speed_ratio=8`` and the paper's 16-frame clips: ``T_slow = 2``,
``T_fast = 16``. Each tap keeps its own ``T_i`` / ``C_i``; the neck aligns them.
``with_cp=True`` (with ``frozen=False``) switches on the residual blocks' own
checkpointing (their ``with_cp`` attribute).
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from mmaction.registry import MODELS
from torch import Tensor

from ...utils.temporal_resample import sampled_step_weights
from .base_layer_tap import BaseLayerTap, resolve_tap_layers


def pool_fast_to_slow(fast: Tensor, num_slow: int) -> Tensor:
    """Average fast-pathway steps around each slow step.

    Slow step ``k`` sits on fast step ``k r`` (``r = T_fast / T_slow``); fast step ``f``
    gets weight 1 where ``|f - k r| < r / 2`` and 1/2 where ``|f - k r| = r / 2`` (so
    every fast step weighs 1 in total across cells and the weighted centre is ``k r``),
    renormalised over the steps inside the clip.

    Args:
        fast (Tensor): ``[n, C, T_fast, H, W]``.
        num_slow (int): ``T_slow``; must divide ``T_fast``.

    Returns:
        Tensor: ``[n, C, T_slow, H, W]``.
    """
    t_fast = fast.shape[2]
    if num_slow < 1 or t_fast % num_slow:
        raise ValueError(f'pool_fast_to_slow: T_fast={t_fast} is not a multiple of '
                         f'T_slow={num_slow}')
    weights = sampled_step_weights(t_fast, num_slow, fast.device)  # [T_slow, T_fast]
    return torch.einsum('nctyx,st->ncsyx', fast, weights.to(fast.dtype))


@MODELS.register_module()
class LayerTapSlowFast(BaseLayerTap):
    """Frozen (or fine-tunable) mmaction ``ResNet3dSlowFast`` returning layer taps.

    Input ``[B, 3, F, H, W]`` -> :class:`TapOutput` with taps ``[B, T, T_i, H_i, W_i,
    C_i]`` in the id order described in the module docstring.

    Args:
        slowfast (dict): config of mmaction ``ResNet3dSlowFast`` (``type`` may be
            omitted).
        tap_layers (Sequence[int], optional): 1-based ids (negative = from the end);
            None = all ``2S + 1``. Defaults to None.
        clip_len (int): frames per clip; must be divisible by ``resample_rate``.
            Defaults to 16 (the paper's ``T'`` for every backbone).
        clip_batch, frozen, dtype, with_cp, tap_reduce (None | 'spatial_mean' |
        'spatial_pool'), tap_pool_size, skip_padded_clips,
        pretrained, init_cfg: see :class:`BaseLayerTap`.
    """

    def __init__(self,
                 slowfast: Dict,
                 tap_layers: Optional[Sequence[int]] = None,
                 clip_len: int = 16,
                 **kwargs) -> None:
        super().__init__(clip_len=clip_len, **kwargs)
        slowfast = dict(slowfast)
        slowfast.setdefault('type', 'ResNet3dSlowFast')
        self.backbone = MODELS.build(slowfast)
        rate = self.backbone.resample_rate
        if clip_len % rate:
            raise ValueError(f'LayerTapSlowFast: clip_len={clip_len} must be a multiple '
                             f'of resample_rate={rate}')
        self.num_stages = len(self.backbone.slow_path.res_layers)
        self.layer_ids = resolve_tap_layers(tap_layers, 2 * self.num_stages + 1,
                                            'LayerTapSlowFast')
        if self.with_cp:
            for m in self.backbone.modules():
                if hasattr(m, 'with_cp') and m is not self.backbone:
                    m.with_cp = True
        if self.frozen:
            self._freeze()

    def tap_specs(self) -> Dict[str, list]:
        """Per tapped layer: ``layer_ids``, ``in_channels`` (C_i), ``temporal_sizes``
        (T_i), so a neck can be configured from the backbone."""
        bb = self.backbone
        slow_t = self.clip_len // bb.resample_rate
        fast_t = self.clip_len // max(bb.resample_rate // bb.speed_ratio, 1)

        def width(path, stage: int) -> int:
            return path.base_channels * 2**(stage - 1) * path.block.expansion

        channels, sizes = {}, {}
        for s in range(1, self.num_stages + 1):
            channels[2 * s - 1], sizes[2 * s - 1] = width(bb.slow_path, s), slow_t
            channels[2 * s], sizes[2 * s] = width(bb.fast_path, s), fast_t
        last = 2 * self.num_stages + 1
        channels[last] = channels[last - 2] + channels[last - 1]
        sizes[last] = slow_t
        return dict(layer_ids=list(self.layer_ids),
                    in_channels=[channels[i] for i in self.layer_ids],
                    temporal_sizes=[sizes[i] for i in self.layer_ids])

    def _forward_clips(self, clips: Tensor) -> List[Tensor]:
        bb = self.backbone
        last = 2 * self.num_stages + 1
        stage_ids = {i for i in self.layer_ids if i != last}
        if last in self.layer_ids:
            stage_ids |= {last - 2, last - 1}
        outputs = {}
        handles = []

        def keep(layer_id: int):
            def hook(module, args, output):
                outputs[layer_id] = output
            return hook

        for s in range(1, self.num_stages + 1):
            for layer_id, path in ((2 * s - 1, bb.slow_path), (2 * s, bb.fast_path)):
                if layer_id in stage_ids:
                    handles.append(getattr(path, f'layer{s}').register_forward_hook(
                        keep(layer_id)))
        try:
            bb(clips)
        finally:
            for handle in handles:
                handle.remove()

        if last in self.layer_ids:
            slow, fast = outputs[last - 2], outputs[last - 1]
            if fast.shape[3:] != slow.shape[3:]:
                fast = F.adaptive_avg_pool3d(fast, (fast.shape[2], ) + tuple(slow.shape[3:]))
            outputs[last] = torch.cat((slow, pool_fast_to_slow(fast, slow.shape[2])), dim=1)
        return [rearrange(outputs[i], 'n c t h w -> n t h w c') for i in self.layer_ids]
