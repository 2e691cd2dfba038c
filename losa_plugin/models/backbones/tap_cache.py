"""A layer-tap backbone whose taps are computed once and then read from disk.

The tap cache memory / speed mode: the frozen backbone is run on each un-augmented
window once (first epoch), its taps — normally in the reduced form
``tap_reduce='spatial_mean'``, ``[T, T_i, C_i]`` per layer — are written to
``cache_dir``, and every later epoch reads them instead of running the backbone, so
only the adapters and the head train. Only valid while the backbone is frozen and the
windows are identical across epochs (no random crop / flip / colour augmentation, the
same window starts), which is what the key guarantees:

* ``keys`` given to :meth:`forward` (one per sample, e.g. ``'<video_id>@<window_start>'``),
  or, by default,
* a content key: BLAKE2b of the normalised frames and the frame mask. An augmented or
  shifted window gets another key — a cache miss, never stale taps — so the cache is
  correct with any pipeline; it only pays off with un-augmented windows.
"""
import hashlib
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from losa_plugin.datasets.tap_cache_store import TapCacheStore
from .tap_output import TapOutput


@MODELS.register_module()
class CachedLayerTap(BaseModule):
    """Wraps a frozen layer-tap backbone with an on-disk tap cache.

    Input / output as the wrapped backbone: ``[B, 3, F, H, W]`` (+ ``[B, F]`` mask)
    -> :class:`TapOutput`, taps ``[B, T, T_i, C_i]`` (or unreduced
    ``[B, T, T_i, H_i, W_i, C_i]`` when the wrapped backbone does not reduce).

    Args:
        backbone (dict): a ``LayerTapViT`` / ``LayerTapSlowFast`` config; must be
            ``frozen=True``. Its ``tap_reduce`` defaults to ``'spatial_mean'`` here
            (the cache stores what the backbone outputs; full spatial taps are ~200x
            larger at 224x224).
        cache_dir (str): where the taps go (one ``.pt`` per window).
        read_only (bool): never run the backbone; a missing window is an error.
            Defaults to False.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Attributes:
        hits (int), misses (int): windows read from / written to the cache so far.
        accepts_keys (bool): True; :meth:`forward` takes per-sample ``keys``.
    """

    accepts_keys = True

    def __init__(self, backbone: Dict, cache_dir: str, read_only: bool = False,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        backbone = dict(backbone)
        if not backbone.get('frozen', True):
            raise ValueError('CachedLayerTap: the wrapped backbone must be frozen '
                             '(frozen=True); cached taps cannot carry gradients')
        if backbone.get('tap_recompute', False):
            raise ValueError('CachedLayerTap: the wrapped backbone has tap_recompute=True; '
                             'cached taps are read from disk, never recomputed: drop '
                             'tap_recompute from the wrapped backbone config')
        backbone.setdefault('tap_reduce', 'spatial_mean')
        self.inner = MODELS.build(backbone)
        self.read_only = read_only
        self.cache_dir = cache_dir
        self._store: Optional[TapCacheStore] = None
        self.hits = 0
        self.misses = 0

    # what the detector / neck builder asks the backbone
    @property
    def clip_len(self) -> int:
        return self.inner.clip_len

    @property
    def layer_ids(self):
        return self.inner.layer_ids

    @property
    def frozen(self) -> bool:
        return True

    def tap_specs(self) -> Dict[str, list]:
        return self.inner.tap_specs()

    def signature(self) -> Dict:
        """What produced the taps (compared with the cache directory's ``meta.json``)."""
        inner = self.inner
        # format 2: windows also hold frame_mask and the backbone-pooled last layer
        return dict(format=2, type=type(inner).__name__, layer_ids=list(inner.layer_ids),
                    clip_len=inner.clip_len, tap_reduce=inner.tap_reduce,
                    dtype=inner.dtype, pretrained=inner.pretrained)

    @property
    def store(self) -> TapCacheStore:
        if self._store is None:  # opened lazily: init_weights may load weights first
            self._store = TapCacheStore(self.cache_dir, self.signature())
        return self._store

    @staticmethod
    def content_key(frames: Tensor, frame_mask: Tensor) -> str:
        """BLAKE2b of one window's frames ``[3, F, H, W]`` and mask ``[F]``."""
        h = hashlib.blake2b(digest_size=16)
        h.update(str((tuple(frames.shape), str(frames.dtype))).encode())
        h.update(memoryview(np.ascontiguousarray(frames.detach().cpu().numpy())).cast('B'))
        h.update(memoryview(np.ascontiguousarray(frame_mask.cpu().numpy())).cast('B'))
        return 'w' + h.hexdigest()

    def forward(self, frames: Tensor, frame_mask: Optional[Tensor] = None,
                keys: Optional[Sequence[str]] = None) -> TapOutput:
        """Taps of a batch of windows, read from the cache where present.

        Args:
            frames (Tensor): ``[B, 3, F, H, W]``.
            frame_mask (Tensor, optional): ``[B, F]`` bool; None = all valid.
            keys (Sequence[str], optional): one key per sample; default: content keys.

        Returns:
            TapOutput: as the wrapped backbone's.
        """
        b, f = frames.shape[0], frames.shape[2]
        if frame_mask is None:
            frame_mask = frames.new_ones((b, f), dtype=torch.bool)
        if keys is None:
            keys = [self.content_key(frames[i], frame_mask[i]) for i in range(b)]
        if len(keys) != b:
            raise ValueError(f'CachedLayerTap: {len(keys)} keys for a batch of {b}')
        missing = [i for i, k in enumerate(keys) if k not in self.store]
        if missing and self.read_only:
            raise KeyError(f'CachedLayerTap: {len(missing)} window(s) not in the read-only '
                           f'cache {self.cache_dir}, e.g. {keys[missing[0]]!r}')
        per_sample: List = [None] * b
        if missing:
            idx = torch.tensor(missing, device=frames.device)
            out = self.inner(frames[idx], frame_mask[idx])
            for j, i in enumerate(missing):
                item = dict(feats=tuple(t[j] for t in out.feats), layer_ids=out.layer_ids,
                            clip_mask=out.clip_mask[j], frame_mask=out.frame_mask[j],
                            pooled_last=out.pooled_last[j])
                self.store.save(keys[i], **item)
                per_sample[i] = item
            self.misses += len(missing)
        for i, key in enumerate(keys):
            if per_sample[i] is None:
                item = self.store.load(key)
                if list(item['layer_ids']) != list(self.inner.layer_ids):
                    raise ValueError(f'CachedLayerTap: {self.store.path(key)} holds layers '
                                     f'{list(item["layer_ids"])}, the backbone taps '
                                     f'{list(self.inner.layer_ids)}')
                per_sample[i] = item
                self.hits += 1

        def stack(name: str) -> Tensor:
            return torch.stack([s[name] for s in per_sample]).to(frames.device)

        num_taps = len(self.inner.layer_ids)
        feats = tuple(torch.stack([s['feats'][k] for s in per_sample]).to(frames.device)
                      for k in range(num_taps))
        return TapOutput(feats, tuple(self.inner.layer_ids), stack('clip_mask'),
                         frame_mask=stack('frame_mask'), pooled_last=stack('pooled_last'))
