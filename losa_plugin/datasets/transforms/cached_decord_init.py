"""MMAction2's ``DecordInit`` with the whole decoded clip kept in memory."""
import os.path as osp
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from mmaction.datasets.transforms import DecordInit
from mmaction.registry import TRANSFORMS

from ..decoded_video_cache import shared_cache


class _DecodedFrames:
    """An already decoded video ``[N, H, W, 3]`` answering the calls MMAction2's
    ``DecordDecode`` makes on a ``decord.VideoReader`` (``len``, ``get_batch(...)
    .asnumpy()``, ``get_avg_fps``)."""

    def __init__(self, frames: np.ndarray, fps: float) -> None:
        self.frames = frames
        self.fps = fps

    def __len__(self) -> int:
        return len(self.frames)

    def get_avg_fps(self) -> float:
        return self.fps

    def get_batch(self, inds) -> '_DecodedFrames':
        inds = np.asarray(inds, dtype=np.int64).reshape(-1)
        if len(inds) and (inds.min() < 0 or inds.max() >= len(self.frames)):
            raise IndexError(f'frame indices {int(inds.min())}..{int(inds.max())} outside '
                             f'the {len(self.frames)} decoded frames')
        return _DecodedFrames(self.frames[inds], self.fps)  # a copy

    def asnumpy(self) -> np.ndarray:
        return self.frames


@TRANSFORMS.register_module()
class CachedDecordInit(BaseTransform):
    """``DecordInit`` whose reader is the whole clip decoded once per process.

    A drop-in for ``DecordInit`` in front of MMAction2's ``SampleFrames`` and
    ``DecordDecode`` (``mode='accurate'``): the first time a worker sees a file it
    decodes every frame with ``DecordInit``'s reader and keeps them
    (:mod:`~losa_plugin.datasets.decoded_video_cache`, least recently used dropped
    beyond ``cache_mb``); later epochs slice the same bytes out of memory. The random
    sampling of the pipeline is untouched, so training sees exactly the frames it would
    have decoded.

    Added keys: as ``DecordInit`` (``total_frames``, ``video_reader``, ``avg_fps``).

    Args:
        cache_mb (float): MiB of decoded frames a process keeps. Default 1024.
        **kwargs: ``DecordInit``'s arguments (``io_backend``, ``num_threads``, ...).
    """

    def __init__(self, cache_mb: float = 1024, **kwargs) -> None:
        if cache_mb <= 0:
            raise ValueError(f'CachedDecordInit: cache_mb must be > 0, got {cache_mb}')
        self.cache_mb = float(cache_mb)
        self.init = DecordInit(**kwargs)

    #: path -> fps of the videos decoded in this process (next to the shared frames)
    _fps: Dict[str, float] = {}

    def _decode_all(self, path: str) -> np.ndarray:
        reader = self.init._get_video_reader(path)
        self._fps[path] = float(reader.get_avg_fps())
        return reader.get_batch(list(range(len(reader)))).asnumpy()

    def transform(self, results: Dict) -> Dict:
        path = results['filename']
        if osp.splitext(path)[0] == path:  # as DecordInit: no extension means .mp4
            path = path + '.mp4'
        frames = shared_cache(self.cache_mb).get(path, self._decode_all, tag='decord')
        reader = _DecodedFrames(frames, self._fps[path])
        results['total_frames'] = len(reader)
        results['video_reader'] = reader
        results['avg_fps'] = reader.get_avg_fps()
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(cache_mb={self.cache_mb:g}, init={self.init!r})'
