"""On-disk store of frozen-backbone layer taps, one ``.pt`` file per (video, window).

Used by :class:`~losa_plugin.models.backbones.tap_cache.CachedLayerTap`. A file holds
one window's taps exactly as the backbone produced them (same dtype, same — usually
spatially reduced — shape ``[T, T_i, C_i]`` or ``[T, T_i, H_i, W_i, C_i]``), its
``layer_ids`` and its ``clip_mask`` ``[T]``. ``meta.json`` in the directory records what
produced the taps (backbone type, layers, reduction, dtype, clip length, weights) and a
store opened with a different signature refuses to mix them.

Writes go to a temporary file renamed into place, so parallel workers / ranks writing
the same window never leave a half-written file.
"""
import hashlib
import json
import os
import os.path as osp
import tempfile
from typing import Dict, Optional, Sequence, Tuple

import torch

_SAFE = str.maketrans({c: '_' for c in '/\\:*?"<>| '})


class TapCacheStore:
    """A directory of cached taps.

    Args:
        cache_dir (str): directory (created if missing).
        signature (dict, optional): what produced the taps; compared with (or written
            to) ``cache_dir/meta.json``. Defaults to None (no check).
    """

    def __init__(self, cache_dir: str, signature: Optional[Dict] = None) -> None:
        self.cache_dir = cache_dir
        os.makedirs(cache_dir, exist_ok=True)
        self.signature = signature
        if signature is not None:
            self._check_signature(signature)

    def _check_signature(self, signature: Dict) -> None:
        path = osp.join(self.cache_dir, 'meta.json')
        signature = json.loads(json.dumps(signature))  # normalise tuples to lists
        if osp.exists(path):
            with open(path) as f:
                stored = json.load(f)
            if stored != signature:
                raise ValueError(f'{path}: this tap cache was written by {stored}, but the '
                                 f'backbone now is {signature}; use another cache_dir or '
                                 'delete this one')
            return
        self._atomic_write(path, lambda f: f.write(json.dumps(signature, indent=1).encode()))

    def path(self, key: str) -> str:
        """File of ``key``; long or unsafe keys are hashed into the name."""
        name = key.translate(_SAFE)
        if len(name) > 120:
            name = name[:60] + '_' + hashlib.sha1(key.encode()).hexdigest()
        return osp.join(self.cache_dir, name + '.pt')

    def __contains__(self, key: str) -> bool:
        return osp.exists(self.path(key))

    def _atomic_write(self, path: str, write) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as f:
                write(f)
            os.replace(tmp, path)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise

    def save(self, key: str, feats: Sequence[torch.Tensor], layer_ids: Sequence[int],
             clip_mask: torch.Tensor) -> None:
        """Store one window.

        Args:
            key (str): the window's key (e.g. ``'<video_id>@<window_start>'``).
            feats (Sequence[Tensor]): one per tap, ``[T, T_i, ...]`` (no batch dim).
            layer_ids (Sequence[int]): the tapped layer ids.
            clip_mask (Tensor): ``[T]`` bool.
        """
        item = dict(feats=[f.detach().cpu().contiguous() for f in feats],
                    layer_ids=[int(i) for i in layer_ids], clip_mask=clip_mask.cpu())
        self._atomic_write(self.path(key), lambda f: torch.save(item, f))

    def load(self, key: str) -> Tuple[Tuple[torch.Tensor, ...], Tuple[int, ...], torch.Tensor]:
        """``(feats, layer_ids, clip_mask)`` of one window, as saved."""
        path = self.path(key)
        if not osp.exists(path):
            raise KeyError(f'TapCacheStore: no cached taps for {key!r} ({path})')
        item = torch.load(path, map_location='cpu', weights_only=True)
        return tuple(item['feats']), tuple(item['layer_ids']), item['clip_mask']
