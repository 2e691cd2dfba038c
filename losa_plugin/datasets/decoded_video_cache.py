"""A per-process memory of whole decoded videos, for data sets small enough to keep.

Training decodes the same short videos every epoch (a window of an untrimmed video, a
clip of a trimmed one). For the synthetic benchmark's 64 x 64 videos the decoding costs
as much as the model, so a data worker can keep every video it decoded as one uint8
array ``[N, H, W, 3]`` and slice frames out of it afterwards. Decoding is deterministic,
so the frames are the same bytes as a fresh decode of the same indices
(tests/test_decoded_video_cache.py checks this on the shipped videos); only the time
changes. The memory is bounded (least recently used videos are dropped first) and lives
in the process that decodes, i.e. in the data workers when ``num_workers > 0``.
"""
import os
from collections import OrderedDict
from typing import Callable, Dict, Tuple

import numpy as np

Key = Tuple[str, float, int, str]


class DecodedVideoCache:
    """Least-recently-used store of decoded videos, bounded in bytes.

    Args:
        max_mb (float): the most memory the stored frames may take, MiB. A video larger
            than that is decoded every time and not stored.
    """

    def __init__(self, max_mb: float) -> None:
        if max_mb <= 0:
            raise ValueError(f'DecodedVideoCache: max_mb must be > 0, got {max_mb}')
        self.max_bytes = int(max_mb * 2**20)
        self.nbytes = 0
        self._videos: 'OrderedDict[Key, np.ndarray]' = OrderedDict()

    @staticmethod
    def key(path: str, tag: str = '') -> Key:
        """A video's identity: path, modification time and size (a rewritten file is a
        new video), and ``tag`` (e.g. the decoding backend). A path that is not a local
        file (an object-store key read through a file client) is known by its name."""
        try:
            st = os.stat(path)
        except OSError:
            return (path, 0.0, -1, tag)
        return (os.path.abspath(path), st.st_mtime, st.st_size, tag)

    def get(self, path: str, decode: Callable[[str], np.ndarray], tag: str = '') -> np.ndarray:
        """All frames of ``path`` ``[N, H, W, 3]``, decoded by ``decode(path)`` on a miss.

        The returned array is shared: callers index it (a copy) and never write to it.
        """
        key = self.key(path, tag)
        frames = self._videos.get(key)
        if frames is not None:
            self._videos.move_to_end(key)
            return frames
        frames = decode(path)
        frames.setflags(write=False)
        if frames.nbytes <= self.max_bytes:
            self._videos[key] = frames
            self.nbytes += frames.nbytes
            while self.nbytes > self.max_bytes:
                _, old = self._videos.popitem(last=False)
                self.nbytes -= old.nbytes
        return frames

    def __len__(self) -> int:
        return len(self._videos)


_CACHES: Dict[float, DecodedVideoCache] = {}


def shared_cache(max_mb: float) -> DecodedVideoCache:
    """The process's cache of this size (transforms of one pipeline share it; each data
    worker process has its own)."""
    if max_mb not in _CACHES:
        _CACHES[max_mb] = DecodedVideoCache(max_mb)
    return _CACHES[max_mb]


__all__ = ['DecodedVideoCache', 'shared_cache']
