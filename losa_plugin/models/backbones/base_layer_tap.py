"""Shared machinery of the layer-tap backbone wrappers.

A window of frames ``[B, 3, F, H, W]`` is cut into ``T = F // clip_len`` clips of
``clip_len`` frames; the wrapped backbone runs the clips in micro-batches of
``clip_batch`` clips and the chosen intermediate layers ("taps") are collected per
clip, channels last: ``[B, T, T_i, H_i, W_i, C_i]``. Subclasses only say how one
micro-batch of clips ``[n, 3, clip_len, H, W]`` turns into the tapped tensors
``[n, T_i, H_i, W_i, C_i]`` (:meth:`BaseLayerTap._forward_clips`).

Modes:

* ``frozen=True`` (default, LoSA and head-only): backbone parameters have
  ``requires_grad=False``, the backbone stays in eval mode (BatchNorm statistics,
  dropout and drop path off) even after ``model.train()``, and the forward runs under
  ``torch.no_grad()`` so no autograd history is recorded. Freezing is re-applied on
  every forward, so a later ``.train()`` or ``requires_grad_()`` cannot undo it.
* ``frozen=False`` (full fine-tuning baseline): gradients flow into the backbone;
  ``with_cp=True`` recomputes each block in the backward pass
  (``torch.utils.checkpoint``) to save activation memory.

``dtype='bf16' | 'fp16'`` runs the backbone in that precision and stores the taps in it
(on CPU only bf16 is used, so ``'fp16'`` falls back to bf16 there): under autocast, or,
where a subclass has a native 16-bit path for its frozen forward
(:meth:`BaseLayerTap._native_lowp`, ``LayerTapViT``), without it.
``tap_reduce`` reduces each tap inside the clip loop, so full spatial taps are never
held for all clips at once:

* ``'spatial_mean'``: the mean over ``H_i, W_i`` (``[B, T, T_i, C_i]``); the neck's
  learnable spatial conv then has nothing to work on (use ``spatial_cfg=dict(mode=
  'mean')``);
* ``'spatial_pool'``: a parameter-free adaptive average pool to ``p x p`` (``p =
  tap_pool_size``, at most ``H_i`` / ``W_i``): ``[B, T, T_i, p, p, C_i]``, still 6-D,
  so the neck's depthwise-conv spatial block still runs, on the coarse grid, while the
  stored taps shrink by ``H_i * W_i / p^2``. Where ``p`` does not divide ``H_i`` (or
  ``W_i``) adaptive pooling's bins overlap and their mean differs from the tap's mean;
  the pooled grid is then shifted by a per-channel constant so that its spatial mean
  equals the full tap's mean. So every spatial mean of the stored tap (``LastLayerNeck``
  and ``LoSANeck``'s ``F_N``, the spatial blocks' residual) is that of the full tap up
  to float rounding, and LoSA with pooled taps still starts from the head-only features.
  Where ``p`` divides both sizes the pool is exactly ``F.adaptive_avg_pool2d``.

The taps of all clips are written into one preallocated tensor per layer as the
micro-batches finish (never the pieces and their concatenation at once).

``tap_recompute=True`` (frozen only): when the caller hands a ``clip_reducer`` to
:meth:`BaseLayerTap.forward` (``TALDetector`` hands ``LoSANeck.reduce_clip_taps``), the
reducer runs on each micro-batch's taps inside the clip loop, under activation
checkpointing, and only its outputs are kept (``TapOutput.clip_reduced``; ``feats`` is
empty): the backward pass recomputes each clip's taps (``tap_recompute.py``). Called
without a reducer the wrapper returns its taps as usual.

Besides the taps, the wrapper returns ``pooled_last``: the last tap pooled over space
*the way the backbone's own output is* (:meth:`BaseLayerTap._pool_last`; for VideoMAEv2
the pretrained ``fc_norm`` of the spatial mean), computed from the full tap before any
``tap_reduce`` / cast. It is ``F_N``, the head-only features, for every neck.
"""
import contextlib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from einops import rearrange
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from .tap_output import TapOutput
from .tap_recompute import ClipPlan, ClipReducer, gather_clips, reduce_clips

_DTYPES = {None: None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
_TAP_REDUCE = (None, 'spatial_mean', 'spatial_pool')


class BaseLayerTap(BaseModule):
    """Base class of the layer-tap wrappers (not registered; see subclasses).

    Args:
        clip_len (int): frames per clip ``T'``. Defaults to 16.
        clip_batch (int): clips per backbone call (micro-batch; trades memory for
            speed). Defaults to 4.
        frozen (bool): frozen backbone (no grad, eval mode, no autograd history).
            Defaults to True.
        dtype (str, optional): ``'bf16'``, ``'fp16'`` or None (float32). Defaults to None.
        with_cp (bool): activation checkpointing per block; only used when
            ``frozen=False``. Defaults to False.
        tap_reduce (str, optional): None (full spatial taps), ``'spatial_mean'``
            (``[B, T, T_i, C_i]``) or ``'spatial_pool'`` (``[B, T, T_i, p, p, C_i]``,
            see the module docstring). Defaults to None.
        tap_pool_size (int): ``p`` of ``tap_reduce='spatial_pool'`` (clamped to
            ``H_i`` / ``W_i``); ignored otherwise. Defaults to 4.
        skip_padded_clips (bool): do not run clips without any valid frame; their
            taps are zeros. Defaults to True.
        tap_recompute (bool): with a ``clip_reducer`` given to :meth:`forward`, keep
            only the reducer's per-clip outputs and recompute each clip's taps in the
            backward pass (module docstring; needs ``frozen=True``). Defaults to False.
        pretrained (str, optional): MMAction2 checkpoint (a recognizer's, keys
            ``backbone.*``, or a bare backbone's) loaded into the wrapped backbone by
            :meth:`init_weights`. ``init_cfg=dict(type='Pretrained', checkpoint=...)``
            is accepted as a synonym. Defaults to None.
        init_cfg (dict, optional): see ``pretrained``. Defaults to None.
    """

    def __init__(self,
                 clip_len: int = 16,
                 clip_batch: int = 4,
                 frozen: bool = True,
                 dtype: Optional[str] = None,
                 with_cp: bool = False,
                 tap_reduce: Optional[str] = None,
                 tap_pool_size: int = 4,
                 skip_padded_clips: bool = True,
                 tap_recompute: bool = False,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            # mmengine's PretrainedInit would load into the wrapper with the wrong
            # prefix; we load into the wrapped backbone ourselves.
            pretrained = pretrained or init_cfg['checkpoint']
            init_cfg = None
        super().__init__(init_cfg=init_cfg)
        if clip_len < 1 or clip_batch < 1:
            raise ValueError(f'clip_len and clip_batch must be >= 1, got {clip_len}, '
                             f'{clip_batch}')
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of None, 'bf16', 'fp16'; got {dtype!r}")
        if tap_reduce not in _TAP_REDUCE:
            raise ValueError(f'tap_reduce must be one of {_TAP_REDUCE}; got {tap_reduce!r}')
        if isinstance(tap_pool_size, bool) or not isinstance(tap_pool_size, int) \
                or tap_pool_size < 1:
            raise ValueError(f'tap_pool_size must be an int >= 1, got {tap_pool_size!r}')
        if tap_recompute and not frozen:
            raise ValueError('tap_recompute=True recomputes the taps of a frozen backbone '
                             'run without autograd; it needs frozen=True (a backbone with '
                             'gradients has with_cp for its own checkpointing)')
        self.clip_len = clip_len
        self.clip_batch = clip_batch
        self.frozen = frozen
        self.dtype = dtype
        self.with_cp = with_cp
        self.tap_reduce = tap_reduce
        self.tap_pool_size = tap_pool_size
        self.skip_padded_clips = skip_padded_clips
        self.tap_recompute = bool(tap_recompute)
        self.pretrained = pretrained
        # subclasses set these
        self.backbone: nn.Module
        self.layer_ids: Tuple[int, ...] = ()

    # ------------------------------------------------------------------ subclass API
    def _forward_clips(self, clips: Tensor) -> List[Tensor]:
        """Run one micro-batch of clips.

        Args:
            clips: ``[n, 3, clip_len, H, W]``.

        Returns:
            One tensor per entry of ``self.layer_ids``, ``[n, T_i, H_i, W_i, C_i]``.
        """
        raise NotImplementedError

    def _pool_last(self, tap: Tensor) -> Tensor:
        """The backbone's own output pooling of one micro-batch of the last tap,
        ``[n, T_N, H_N, W_N, C_N] -> [n, T_N, C_N]`` (``F_N``, the head-only features).
        Default: the spatial mean (float32); subclasses add the backbone's final norm."""
        return tap.mean(dim=(2, 3), dtype=torch.float32)

    # ------------------------------------------------------------------ freezing
    def _freeze(self) -> None:
        self.backbone.eval()
        for p in self.backbone.parameters():
            if p.requires_grad:
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> 'BaseLayerTap':
        super().train(mode)
        if self.frozen:
            self._freeze()
        return self

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Random init via the backbone's own ``init_cfg``, or load ``pretrained``."""
        if self.pretrained is None:
            super().init_weights()
            return
        self.load_backbone_checkpoint(self.pretrained)
        self._is_init = True

    def load_backbone_checkpoint(self, filename: str, prefix: str = 'backbone.') -> None:
        """Load an MMAction2 checkpoint into the wrapped backbone.

        Keys starting with ``prefix`` (a recognizer checkpoint) are kept with the prefix
        removed; a checkpoint without such keys is taken as a bare backbone state.
        Missing backbone weights are an error (a frozen backbone with random layers
        would train silently on noise); extra keys are logged.
        """
        logger = MMLogger.get_current_instance()
        ckpt = CheckpointLoader.load_checkpoint(filename, map_location='cpu', logger=logger)
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise TypeError(f'{filename}: expected a dict state (optionally under '
                            f"'state_dict'), got {type(ckpt).__name__}")
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        result = self.backbone.load_state_dict(state, strict=False)
        if result.missing_keys:
            raise KeyError(f'{filename}: backbone weights missing from the checkpoint: '
                           f'{result.missing_keys[:10]} ({len(result.missing_keys)} in all)')
        if result.unexpected_keys:
            logger.warning(f'{filename}: ignored {len(result.unexpected_keys)} keys not '
                           f'in the backbone, e.g. {result.unexpected_keys[:5]}')
        logger.info(f'loaded backbone weights from {filename}')

    # ------------------------------------------------------------------ forward
    def _native_lowp(self, device_type: str) -> bool:
        """True when the subclass runs its frozen forward natively in ``dtype`` (its
        own 16-bit weights and activations), so the clip loop needs no autocast."""
        return False

    def _autocast(self, device_type: str) -> contextlib.AbstractContextManager:
        if self.dtype is None or self._native_lowp(device_type):
            return contextlib.nullcontext()
        dtype = _DTYPES[self.dtype] if device_type == 'cuda' else torch.bfloat16
        return torch.autocast(device_type, dtype=dtype)

    def _pool(self, tap: Tensor) -> Tensor:
        """Mean-preserving adaptive average pool ``[n, T_i, H_i, W_i, C_i] ->
        [n, T_i, p_h, p_w, C_i]`` (``p_h = min(p, H_i)``, ``p_w = min(p, W_i)``)."""
        n, t, h, w, _ = tap.shape
        size = (min(self.tap_pool_size, h), min(self.tap_pool_size, w))
        x = rearrange(tap, 'n t h w c -> (n t) c h w')
        pooled = rearrange(F.adaptive_avg_pool2d(x, size), '(n t) c h w -> n t h w c',
                           n=n, t=t)
        if h % size[0] or w % size[1]:
            # overlapping bins: shift so that the grid's mean is the tap's exact mean
            shift = (tap.mean(dim=(2, 3), dtype=torch.float32)
                     - pooled.mean(dim=(2, 3), dtype=torch.float32))
            pooled = pooled + shift[:, :, None, None, :]
        return pooled

    def _reduce(self, tap: Tensor) -> Tensor:
        """``[n, T_i, H_i, W_i, C_i]`` -> stored form (reduced / cast)."""
        if self.tap_reduce == 'spatial_mean':
            tap = tap.mean(dim=(2, 3))
        elif self.tap_reduce == 'spatial_pool':
            tap = self._pool(tap)
        if self.dtype is not None:
            tap = tap.to(_DTYPES[self.dtype] if tap.is_cuda else torch.bfloat16)
        return tap

    def _clip_plan(self, clip_mask: Tensor) -> ClipPlan:
        """The clips to run for a ``[B, T]`` clip mask (``skip_padded_clips``)."""
        flat_mask = clip_mask.flatten()
        if self.skip_padded_clips:
            run_idx = flat_mask.nonzero().flatten()
            if run_idx.numel() == 0:  # nothing valid: run one clip for the shapes only
                run_idx = flat_mask.new_zeros(1, dtype=torch.long)
            # clips that ran but hold no valid frame (the shape-only clip) stay zero
            keep = flat_mask[run_idx]
            scatter = run_idx.numel() != flat_mask.numel() or not bool(keep.all())
        else:
            # (no host sync without skipping: every clip runs and is kept)
            run_idx = torch.arange(flat_mask.numel(), device=flat_mask.device)
            keep, scatter = torch.ones_like(flat_mask), False
        return ClipPlan(run_idx, keep, scatter)

    def forward(self, frames: Tensor, frame_mask: Optional[Tensor] = None,
                clip_reducer: Optional[ClipReducer] = None) -> TapOutput:
        """Tap the backbone over a window.

        Args:
            frames: ``[B, 3, F, H, W]`` normalised frames, ``F`` a multiple of
                ``clip_len``.
            frame_mask: ``[B, F]`` bool, True = valid frame; None = all valid.
            clip_reducer (callable, optional): with ``tap_recompute=True``, a
                function of one micro-batch's taps (stored form, ``[n, T_i, ...]``
                per tapped layer) returning per-clip tensors ``[n, ...]``
                (``LoSANeck.reduce_clip_taps``); run in the clip loop with the taps
                recomputed in the backward pass. Ignored otherwise. Defaults to None.

        Returns:
            :class:`TapOutput` with ``feats`` ``[B, T, T_i, H_i, W_i, C_i]`` each (or
            ``[B, T, T_i, C_i]`` with ``tap_reduce='spatial_mean'``, ``[B, T, T_i,
            p, p, C_i]`` with ``'spatial_pool'``), ``layer_ids``, ``clip_mask``
            ``[B, T]``, ``frame_mask`` ``[B, T, clip_len]`` and ``pooled_last``
            ``[B, T, T_N, C_N]`` float32 (:meth:`_pool_last` of the full last tap).
            With a reducer (recompute): ``feats=()`` and ``clip_reduced`` holds the
            reducer's outputs ``[B, T, ...]``.
        """
        if frames.dim() != 5 or frames.shape[1] != 3:
            raise ValueError(f'{type(self).__name__}: expected frames [B, 3, F, H, W], '
                             f'got {tuple(frames.shape)}')
        b, _, f = frames.shape[:3]
        if f % self.clip_len:
            raise ValueError(f'{type(self).__name__}: the window has F={f} frames, not a '
                             f'multiple of clip_len={self.clip_len}; pad it (the data '
                             f'preprocessor pad_multiple) or change clip_len')
        if frame_mask is None:
            frame_mask = frames.new_ones((b, f), dtype=torch.bool)
        if tuple(frame_mask.shape) != (b, f):
            raise ValueError(f'{type(self).__name__}: frame_mask must be [B, F]=({b}, {f}), '
                             f'got {tuple(frame_mask.shape)}')
        clip_frames = rearrange(frame_mask.bool(), 'b (t l) -> b t l', l=self.clip_len)
        clip_mask = clip_frames.any(-1)
        num_clips = clip_mask.shape[1]

        if self.frozen:
            self._freeze()
        plan = self._clip_plan(clip_mask)
        if self.tap_recompute and clip_reducer is not None:
            outs = reduce_clips(self, frames, plan, clip_reducer)
            outs = [rearrange(o, '(b t) ... -> b t ...', b=b, t=num_clips) for o in outs]
            return TapOutput((), tuple(self.layer_ids), clip_mask, frame_mask=clip_frames,
                             pooled_last=outs[-1], clip_reduced=tuple(outs[:-1]))
        stores = self._stored_taps(frames, plan)
        feats = [rearrange(store, '(b t) ... -> b t ...', b=b, t=num_clips)
                 for store in stores]
        return TapOutput(tuple(feats[:-1]), tuple(self.layer_ids), clip_mask,
                         frame_mask=clip_frames, pooled_last=feats[-1])

    def _stored_taps(self, frames: Tensor, plan: ClipPlan) -> List[Tensor]:
        """The clip loop of the default mode: every clip's taps in their stored form,
        ``[B*T, ...]`` per tapped layer, then ``F_N`` ``[B*T, T_N, C_N]`` float32."""
        b, _, f = frames.shape[:3]
        grid = frames.unflatten(2, (f // self.clip_len, self.clip_len))  # a view
        run_idx, keep, scatter = plan
        grad_ctx = torch.no_grad() if self.frozen else contextlib.nullcontext()
        # One preallocated [B*T, ...] tensor per layer, filled micro-batch by
        # micro-batch: the pieces and a concatenation of them never coexist.
        stores: List[Tensor] = []
        with grad_ctx, self._autocast(frames.device.type):
            for start in range(0, run_idx.numel(), self.clip_batch):
                idx = run_idx[start:start + self.clip_batch]
                raw = self._forward_clips(gather_clips(grid, idx))
                # F_N from the full last tap (before any reduction / cast), in float32
                pooled = self._pool_last(raw[-1]).float()
                taps = [self._reduce(t) for t in raw] + [pooled]
                del raw
                if not stores:
                    alloc = torch.zeros if scatter else torch.empty
                    stores = [alloc((b * grid.shape[2], ) + tuple(t.shape[1:]),
                                    dtype=t.dtype, device=t.device) for t in taps]
                if scatter:
                    k = keep[start:start + self.clip_batch]
                    for store, t in zip(stores, taps):
                        store[idx[k]] = t[k]
                else:
                    for store, t in zip(stores, taps):
                        store[start:start + t.shape[0]] = t
                del taps
        return stores


def resolve_tap_layers(tap_layers: Optional[Sequence[int]], num_layers: int,
                       owner: str) -> Tuple[int, ...]:
    """1-based layer ids, ascending and unique; negative ids count from the end.

    Args:
        tap_layers: ids in ``1..num_layers`` or ``-num_layers..-1``; None = all.
        num_layers: number of tappable layers ``N``.
        owner: name used in error messages.
    """
    if tap_layers is None:
        return tuple(range(1, num_layers + 1))
    ids = []
    for i in tap_layers:
        j = num_layers + 1 + i if i < 0 else i
        if not 1 <= j <= num_layers:
            raise ValueError(f'{owner}: tap layer {i} is out of range; layers are 1-based '
                             f'1..{num_layers} (or -{num_layers}..-1)')
        ids.append(j)
    if not ids:
        raise ValueError(f'{owner}: tap_layers is empty')
    return tuple(sorted(set(ids)))
