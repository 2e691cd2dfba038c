"""Layer taps over mmaction's ``VisionTransformer`` (VideoMAE / VideoMAEv2).

The wrapped ``VisionTransformer`` is built from ``vit=dict(...)`` through ``MODELS``
and used as is (its own modules, parameters and checkpoint keys). Per clip this wrapper
runs the same steps as ``VisionTransformer.forward`` up to the last tapped block:

1. ``patch_embed`` (Conv3d tubelets) -> tokens ``[n, T_i*H_i*W_i, C]``;
2. ``+ pos_embed`` (sinusoid buffer, or learnable when ``use_learnable_pos_emb``);
   at a resolution other than the built ``img_size`` it is resized bicubically per
   temporal slice exactly as mmaction does; then ``pos_drop``;
3. ``blocks`` one by one (with their own ``drop_path`` / ``gamma`` / dropout, active
   only in training mode, i.e. with ``frozen=False``), keeping the outputs of the
   tapped blocks.

Taps are raw block outputs. The backbone's own output norm is applied where its
forward applies it, to the pooled last tap (``TapOutput.pooled_last``, ``F_N``): with
``use_mean_pooling=True`` (VideoMAE / VideoMAEv2) ``fc_norm`` of the spatial mean of each
temporal token; otherwise the final ``norm`` per token, then the spatial mean. mmaction's
forward pools over time too (one vector a clip); a TAL head needs the ``T_N`` temporal
tokens, so only space is pooled here (docs/method.md, "F_N").

Layer ids are **1-based block indices** (tap ``i`` = output of ``blocks[i-1]``, the
paper's ``f_i``); negative ids count from the end (-1 = the last block). Blocks after
the highest tapped one are not run.

16-bit frozen forward (``dtype='bf16'`` / ``'fp16'``, ``frozen=True``): by default
(``lowp_mode='native'``) the blocks run natively in 16 bit on a 16-bit copy of the
frozen weights made once (``frozen_vit_lowp.py``; taps ~2.3 bf16 units from float32,
docs/efficiency.md section 8); ``lowp_mode='autocast'`` keeps the float32 residual
stream and lets ``torch.autocast`` cast per call (slower on a CPU, ~1 unit). The
native path needs the fused attention; with ``fused_attention=False``, a backbone it
does not cover (``lowp_unsupported``) or with gradients (``frozen=False``) autocast is
used.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from mmaction.registry import MODELS
from mmengine.logging import MMLogger
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .base_layer_tap import _DTYPES, BaseLayerTap, resolve_tap_layers
from .frozen_vit_lowp import FrozenViTLowp, lowp_unsupported
from .fused_attention import disable_fused_attention, enable_fused_attention

_LOWP_MODES = ('native', 'autocast')


@MODELS.register_module()
class LayerTapViT(BaseLayerTap):
    """Frozen (or fine-tunable) mmaction ``VisionTransformer`` returning layer taps.

    Input ``[B, 3, F, H, W]`` -> :class:`TapOutput` with taps
    ``[B, T, T_i, H_i, W_i, C]``, ``T = F // clip_len``, ``T_i = clip_len / tubelet``,
    ``H_i = H / patch``, ``W_i = W / patch``.

    Args:
        vit (dict): config of mmaction ``VisionTransformer`` (``type`` may be omitted).
            Its ``num_frames`` must equal ``clip_len``.
        tap_layers (Sequence[int], optional): 1-based block ids to tap (negative =
            from the end); None = every block. Defaults to None.
        fused_attention (bool): run attention through
            ``F.scaled_dot_product_attention`` (see ``fused_attention.py``).
            Defaults to True.
        clip_len (int): frames per clip. Defaults to 16.
        clip_batch (int): clips per backbone call. Defaults to 4.
        frozen (bool): frozen backbone. Defaults to True.
        dtype (str, optional): ``'bf16'``, ``'fp16'`` or None. Defaults to None.
        with_cp (bool): per-block activation checkpointing when ``frozen=False``.
            Defaults to False.
        tap_reduce (str, optional): None, ``'spatial_mean'`` (taps ``[B, T, T_i, C]``)
            or ``'spatial_pool'`` (taps ``[B, T, T_i, p, p, C]``, p = ``tap_pool_size``),
            applied inside the clip loop. Defaults to None.
        tap_pool_size (int): p of ``'spatial_pool'``. Defaults to 4.
        skip_padded_clips (bool): skip clips without valid frames. Defaults to True.
        pretrained (str, optional): MMAction2 checkpoint to load (``backbone.*`` keys,
            e.g. written by ``tools/convert_videomaev2.py``). Defaults to None.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...)`` is a
            synonym of ``pretrained``. Defaults to None.
        lowp_mode (str): how a frozen backbone runs with ``dtype`` set: ``'native'``
            (a 16-bit weight copy, 16-bit activations, fused CPU kernels; see the module
            docstring) or ``'autocast'``. Ignored without ``dtype`` or with
            ``frozen=False``. Defaults to ``'native'``.
    """

    def __init__(self,
                 vit: Dict,
                 tap_layers: Optional[Sequence[int]] = None,
                 fused_attention: bool = True,
                 clip_len: int = 16,
                 lowp_mode: str = 'native',
                 **kwargs) -> None:
        super().__init__(clip_len=clip_len, **kwargs)
        if lowp_mode not in _LOWP_MODES:
            raise ValueError(f'LayerTapViT: lowp_mode must be one of {_LOWP_MODES}, got '
                             f'{lowp_mode!r}')
        self.lowp_mode = lowp_mode
        vit = dict(vit)
        vit.setdefault('type', 'VisionTransformer')
        num_frames = vit.get('num_frames', 16)
        self.tubelet_size = vit.get('tubelet_size', 2)
        if num_frames != clip_len:
            raise ValueError(f'LayerTapViT: vit.num_frames={num_frames} must equal '
                             f'clip_len={clip_len} (the temporal position embedding has '
                             'num_frames / tubelet_size slots)')
        if clip_len % self.tubelet_size:
            raise ValueError(f'LayerTapViT: clip_len={clip_len} is not a multiple of '
                             f'tubelet_size={self.tubelet_size}')
        if vit.get('return_feat_map', False):
            raise ValueError('LayerTapViT: leave vit.return_feat_map False; taps are '
                             'read from the blocks')
        self.backbone = MODELS.build(vit)
        self.layer_ids = resolve_tap_layers(tap_layers, len(self.backbone.blocks),
                                            'LayerTapViT')
        self.out_channels = self.backbone.embed_dims
        self.fused_attention = False
        self.set_fused_attention(fused_attention)
        self.lowp: Optional[FrozenViTLowp] = None
        if self.frozen and self.dtype is not None and lowp_mode == 'native':
            reason = lowp_unsupported(self.backbone)
            if reason is None:
                self.lowp = FrozenViTLowp(self.backbone, _DTYPES[self.dtype],
                                          self.layer_ids[-1])
            else:
                MMLogger.get_current_instance().warning(
                    f'LayerTapViT: native {self.dtype} forward not available ({reason}); '
                    'running under autocast')
        if self.frozen:
            self._freeze()

    def tap_specs(self) -> Dict[str, list]:
        """Per tapped layer: ``layer_ids``, ``in_channels`` (C_i), ``temporal_sizes``
        (T_i), so a neck can be configured from the backbone."""
        n = len(self.layer_ids)
        return dict(layer_ids=list(self.layer_ids), in_channels=[self.out_channels] * n,
                    temporal_sizes=[self.clip_len // self.tubelet_size] * n)

    def set_fused_attention(self, enabled: bool) -> None:
        """Switch the blocks' attention between SDPA (True) and mmaction's own forward."""
        if enabled:
            enable_fused_attention(self.backbone)
        else:
            disable_fused_attention(self.backbone)
        self.fused_attention = enabled

    def _native_lowp(self, device_type: str) -> bool:
        """True when the clip loop runs the native 16-bit path (no autocast)."""
        return (self.lowp is not None and self.fused_attention and device_type != 'meta'
                and not self.backbone.training)

    def _pos_embed(self, h: int, w: int, tokens: int) -> Tensor:
        """The position embedding for an ``h x w`` token grid, ``[1, tokens, C]``: at
        another resolution than the built ``img_size`` resized bicubically per temporal
        slice exactly as mmaction does."""
        vit = self.backbone
        pos = vit.pos_embed
        if (h, w) != tuple(vit.grid_size):
            gh, gw = vit.grid_size
            pos = rearrange(pos, '1 (t h w) c -> t c h w', h=gh, w=gw)
            pos = F.interpolate(pos, size=(h, w), mode='bicubic', align_corners=False)
            pos = rearrange(pos, 't c h w -> 1 (t h w) c')
        if pos.shape[1] != tokens:
            raise ValueError(f'LayerTapViT: {tokens} tokens per clip but the '
                             f'position embedding has {pos.shape[1]}; check clip_len, '
                             'tubelet_size and the input resolution')
        return pos

    def _embed(self, clips: Tensor) -> Tensor:
        """Patch and position embedding, as in ``VisionTransformer.forward``.

        Args:
            clips: ``[n, 3, clip_len, H, W]``.

        Returns:
            tokens ``[n, T_i*H_i*W_i, C]``.
        """
        vit = self.backbone
        h, w = clips.shape[-2] // vit.patch_size, clips.shape[-1] // vit.patch_size
        tokens = vit.patch_embed(clips)[0]
        return vit.pos_drop(tokens + self._pos_embed(h, w, tokens.shape[1]))

    def _pool_last(self, tap: Tensor) -> Tensor:
        """``[n, T_N, H, W, C] -> [n, T_N, C]``: the backbone's output norm on the
        spatial mean (``fc_norm``), or its final ``norm`` per token before the mean."""
        vit = self.backbone
        # float32 from the full tap, whatever the tap's dtype and autocast say
        with torch.autocast(tap.device.type, enabled=False):
            if getattr(vit, 'fc_norm', None) is not None:
                return vit.fc_norm(tap.mean(dim=(2, 3), dtype=torch.float32))
            return vit.norm(tap.float()).mean(dim=(2, 3))

    def _forward_clips(self, clips: Tensor) -> List[Tensor]:
        vit = self.backbone
        h, w = clips.shape[-2] // vit.patch_size, clips.shape[-1] // vit.patch_size
        t = self.clip_len // self.tubelet_size
        wanted = set(self.layer_ids)
        taps = []
        if self._native_lowp(clips.device.type):
            lowp = self.lowp
            lowp.refresh()
            x = lowp.embed(clips, self._pos_embed(h, w, t * h * w))
            for i in range(self.layer_ids[-1]):
                x = lowp.block(i, x)
                if i + 1 in wanted:
                    taps.append(rearrange(x, 'n (t h w) c -> n t h w c', t=t, h=h, w=w))
            return taps
        x = self._embed(clips)
        use_cp = self.with_cp and not self.frozen and self.training
        for i, blk in enumerate(vit.blocks[:self.layer_ids[-1]], start=1):
            if use_cp and x.requires_grad:
                x = checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
            if i in wanted:
                taps.append(rearrange(x, 'n (t h w) c -> n t h w c', t=t, h=h, w=w))
        return taps
