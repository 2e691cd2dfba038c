"""Per-clip tap cache for the frozen strategies of the synthetic benchmark.

A frozen layer-tap backbone runs every clip of a window independently (its own
position embedding, no attention across clips), so a clip's taps depend on the clip's
frames alone. The benchmark trains head-only and LoSA for several seeds on the same
videos; with this cache a clip is run through the backbone once and then read from disk
by every later epoch, seed and test pass (windows of any start and length share clips as
long as their clip grids agree; a window whose clips are new is computed and stored).

Unlike :class:`~losa_plugin.models.backbones.tap_cache.CachedLayerTap` (one file per
window, a wrapper module in the config) this cache keys single clips and is installed on
an already built backbone by the benchmark's run process, so the config, the model and
its checkpoints stay exactly those of the online run (``tools/infer.py`` reads them as
they are). Storage is :class:`TapCacheStore` with one ``T = 1`` item a clip.

Keys are content hashes (SHA-1 of the normalised frames ``[3, T', H, W]`` and the
frame mask ``[T']``): a different clip, pipeline or augmentation gives a different key,
never stale taps. The store's signature (backbone type, tapped layers, clip length,
reduction, dtype, weights file and its hash) keeps caches of different backbones apart.
"""
import hashlib
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from ..datasets.tap_cache_store import TapCacheStore
from ..models.backbones.tap_output import TapOutput

MODES = ('read', 'write')


def file_sha1(path: Optional[str]) -> Optional[str]:
    """SHA-1 of a file's bytes (None for None)."""
    if path is None:
        return None
    h = hashlib.sha1()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def backbone_signature(backbone) -> Dict:
    """What produced a backbone's taps (stored as the cache's ``meta.json``)."""
    pretrained = getattr(backbone, 'pretrained', None)
    return dict(format='clip-1', type=type(backbone).__name__,
                layer_ids=[int(i) for i in backbone.layer_ids], clip_len=int(backbone.clip_len),
                tap_reduce=getattr(backbone, 'tap_reduce', None),
                dtype=str(getattr(backbone, 'dtype', None)),
                pretrained=osp.abspath(pretrained) if pretrained else None,
                pretrained_sha1=file_sha1(pretrained) if pretrained else None)


def signature_dir(root: str, signature: Dict) -> str:
    """A sub-folder of ``root`` named by the signature (one cache per backbone setup)."""
    key = hashlib.sha1(repr(sorted(signature.items())).encode()).hexdigest()[:12]
    return osp.join(root, f'{signature["type"]}-L{len(signature["layer_ids"])}-{key}')


class ClipTapCache:
    """Install a per-clip tap cache on a frozen layer-tap backbone.

    Modes:

    * ``'write'``: the backbone runs every window as usual (the run is an online run:
      its time and memory are the strategy's own) and each clip's taps are stored
      unless present.
    * ``'read'``: clips found in the store are read; the others are run through the
      backbone one clip a window and stored.

    Args:
        backbone: a built, frozen layer-tap backbone (``LayerTapViT`` ...): its
            ``forward(frames [B, 3, F, H, W], frame_mask [B, F])`` returns a
            :class:`TapOutput` whose tensors are ``[B, T, ...]`` per clip.
        root (str): cache root; the store is the sub-folder of the signature.
        mode (str): ``'read'`` or ``'write'``.

    Attributes:
        hits (int), misses (int): clips read from / computed into the store.
    """

    def __init__(self, backbone, root: str, mode: str = 'read') -> None:
        if mode not in MODES:
            raise ValueError(f'ClipTapCache: mode must be one of {MODES}, got {mode!r}')
        if not getattr(backbone, 'frozen', False):
            raise ValueError('ClipTapCache: the backbone must be frozen (frozen=True); '
                             'cached taps carry no gradient')
        self.backbone = backbone
        self.mode = mode
        self.clip_len = int(backbone.clip_len)
        signature = backbone_signature(backbone)
        self.store = TapCacheStore(signature_dir(root, signature), signature)
        self.hits = 0
        self.misses = 0
        self._forward = None

    def install(self) -> 'ClipTapCache':
        """Route the backbone's forward through the cache (an instance attribute, so
        nothing of the module, its parameters or state dict changes)."""
        if self._forward is None:
            self._forward = self.backbone.forward
            self.backbone.forward = self.forward
        return self

    def stats(self) -> Dict[str, object]:
        return dict(mode=self.mode, hits=self.hits, misses=self.misses,
                    dir=self.store.cache_dir)

    @staticmethod
    def clip_key(clip: Tensor, mask: Tensor) -> str:
        """SHA-1 of one clip's frames ``[3, T', H, W]`` (as the backbone receives them)
        and its frame mask ``[T']``."""
        h = hashlib.sha1()
        h.update(str((tuple(clip.shape), str(clip.dtype))).encode())
        h.update(memoryview(np.ascontiguousarray(clip.detach().cpu().numpy())).cast('B'))
        h.update(memoryview(np.ascontiguousarray(mask.cpu().numpy().astype(np.uint8))))
        return 'c' + h.hexdigest()

    @staticmethod
    def _split(out: TapOutput) -> List[Dict]:
        """A ``[n, T, ...]`` TapOutput -> ``n * T`` items of one clip each (``[1, ...]``)."""
        items = []
        n, t = out.clip_mask.shape[:2]
        for i in range(n):
            for k in range(t):
                def one(x: Optional[Tensor]) -> Optional[Tensor]:
                    return None if x is None else x[i, k:k + 1]
                items.append(dict(feats=tuple(one(f) for f in out.feats),
                                  layer_ids=tuple(out.layer_ids), clip_mask=one(out.clip_mask),
                                  frame_mask=one(out.frame_mask),
                                  pooled_last=one(out.pooled_last)))
        return items

    def _save(self, key: str, item: Dict) -> None:
        self.store.save(key, item['feats'], item['layer_ids'], item['clip_mask'],
                        frame_mask=item['frame_mask'], pooled_last=item['pooled_last'])

    def forward(self, frames: Tensor, frame_mask: Optional[Tensor] = None,
                **kwargs) -> TapOutput:
        """Taps of ``frames [B, 3, F, H, W]`` (``frame_mask [B, F]``), as the backbone's
        own forward returns them."""
        b, f = frames.shape[0], frames.shape[2]
        if f % self.clip_len:
            raise ValueError(f'ClipTapCache: {f} frames are not a multiple of the clip '
                             f'length {self.clip_len}')
        if frame_mask is None:
            frame_mask = frames.new_ones((b, f), dtype=torch.bool)
        t = f // self.clip_len
        clips = rearrange(frames, 'b c (t l) h w -> (b t) c l h w', l=self.clip_len)
        masks = rearrange(frame_mask.bool(), 'b (t l) -> (b t) l', l=self.clip_len)
        keys = [self.clip_key(clips[i], masks[i]) for i in range(b * t)]
        if self.mode == 'write':
            out = self._forward(frames, frame_mask, **kwargs)
            for key, item in zip(keys, self._split(out)):
                if key not in self.store:
                    self._save(key, item)
                    self.misses += 1
            return out
        items: Dict[str, Dict] = {}
        missing, missing_keys = [], set()
        for i, key in enumerate(keys):
            if key in items or key in missing_keys:
                continue  # the same clip twice in a batch: read / computed once
            if key in self.store:
                items[key] = self.store.load(key)
                self.hits += 1
            else:
                missing.append(i)
                missing_keys.add(key)
        if missing:
            idx = torch.tensor(missing, device=frames.device)
            # one clip a window: [n, 3, T', H, W]
            out = self._forward(clips[idx], masks[idx], **kwargs)
            for i, item in zip(missing, self._split(out)):
                self._save(keys[i], item)
                items[keys[i]] = item
            self.misses += len(missing)
        return self._assemble([items[k] for k in keys], b, t, frames.device)

    @staticmethod
    def _assemble(items: List[Dict], b: int, t: int, device) -> TapOutput:
        """``b * t`` one-clip items -> a ``[b, t, ...]`` TapOutput."""
        def cat(values: List[Optional[Tensor]]) -> Optional[Tensor]:
            if values[0] is None:
                return None
            x = torch.cat(values, dim=0).to(device)  # [(b t), ...]
            return x.reshape((b, t) + tuple(x.shape[1:]))

        num_taps = len(items[0]['feats'])
        feats = tuple(cat([it['feats'][k] for it in items]) for k in range(num_taps))
        return TapOutput(feats, tuple(items[0]['layer_ids']), cat([it['clip_mask'] for it in items]),
                         frame_mask=cat([it['frame_mask'] for it in items]),
                         pooled_last=cat([it['pooled_last'] for it in items]))
