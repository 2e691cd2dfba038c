"""Decoding the frames chosen by :class:`SampleVideoWindow`."""
import numpy as np
from mmcv.transforms import BaseTransform

from mmaction.registry import TRANSFORMS

from ..decoded_video_cache import shared_cache
from ..video_reader import (VideoReadError, is_frame_dir, probe_video, read_frames,
                            video_path_of)


@TRANSFORMS.register_module()
class DecodeVideoWindow(BaseTransform):
    """Decode ``results['frame_inds']`` into a list of RGB frames.

    The output is what MMAction2's image transforms expect (``imgs`` as a list of
    ``H x W x 3`` uint8 arrays, ``img_shape``, ``original_shape``, ``modality``), so
    ``Resize`` / ``RandomResizedCrop`` / ``Flip`` / ``ColorJitter`` / ``CenterCrop``
    compose after it and apply one parameter set to the whole window.

    Padding frames (positions ``>= valid_len``) repeat the last valid frame (the sampler
    already points their indices there) or, with ``pad_mode='zero'``, are black; either
    way the model masks them through ``valid_len``.

    Required keys: ``video_path`` (or ``filename``), ``frame_inds`` [F], ``valid_len``; optional
    ``filename_tmpl``, ``start_index`` (frame folders).
    Added keys: ``imgs`` (list of F arrays ``[H, W, 3]`` uint8), ``img_shape`` (H, W),
    ``original_shape`` (H, W), ``modality`` (``'RGB'``).

    Args:
        backend (str): ``'auto'`` (decord, PyAV fallback), ``'decord'`` or ``'pyav'``.
            Default: ``'auto'``.
        pad_mode (str): ``'repeat'`` or ``'zero'``. Default: ``'repeat'``.
        filename_tmpl (str): frame file names of frame folders. Default:
            ``'img_{:05d}.jpg'``.
        start_index (int): number of the first frame file. Default: 1.
        cache_mb (float): keep up to this many MiB of whole decoded video files in the
            decoding process and slice windows out of them (:mod:`decoded_video_cache`;
            the same frames, decoded once instead of once an epoch). For data sets that
            fit, e.g. the synthetic benchmark's. Default: 0 (decode every window).
    """

    def __init__(self, backend: str = 'auto', pad_mode: str = 'repeat',
                 filename_tmpl: str = 'img_{:05d}.jpg', start_index: int = 1,
                 cache_mb: float = 0) -> None:
        if pad_mode not in ('repeat', 'zero'):
            raise ValueError(f"DecodeVideoWindow: pad_mode must be 'repeat' or 'zero', "
                             f'got {pad_mode!r}')
        if cache_mb < 0:
            raise ValueError(f'DecodeVideoWindow: cache_mb must be >= 0, got {cache_mb}')
        self.cache_mb = float(cache_mb)
        self.backend = backend
        self.pad_mode = pad_mode
        self.filename_tmpl = filename_tmpl
        self.start_index = start_index

    def transform(self, results: dict) -> dict:
        path = video_path_of(results, 'DecodeVideoWindow')
        if 'frame_inds' not in results:
            raise KeyError(f"DecodeVideoWindow: {path}: results lack 'frame_inds' (run "
                           'SampleVideoWindow first)')
        inds = np.asarray(results['frame_inds'], dtype=np.int64)
        valid_len = int(results.get('valid_len', len(inds)))
        # decode only the valid positions; padding is filled in below
        if self.cache_mb and not is_frame_dir(path):
            frames = self._from_cache(path, inds[:valid_len])
        else:
            frames = read_frames(path, inds[:valid_len], backend=self.backend,
                                 filename_tmpl=results.get('filename_tmpl', self.filename_tmpl),
                                 start_index=results.get('start_index', self.start_index))
        imgs = list(frames)
        pad = len(inds) - valid_len
        if pad:
            fill = frames[-1] if self.pad_mode == 'repeat' else np.zeros_like(frames[-1])
            imgs.extend(fill.copy() for _ in range(pad))  # own buffers: Flip works in place
        results['imgs'] = imgs
        results['img_shape'] = imgs[0].shape[:2]
        results['original_shape'] = imgs[0].shape[:2]
        results['modality'] = 'RGB'
        return results

    def _from_cache(self, path: str, inds: np.ndarray) -> np.ndarray:
        """Frames ``inds`` of a video file, sliced from its whole decode ``[N, H, W, 3]``."""
        def decode_all(p: str) -> np.ndarray:
            return read_frames(p, np.arange(probe_video(p, backend=self.backend).num_frames),
                               backend=self.backend)
        if len(inds) == 0:  # as read_frames
            raise ValueError(f'{path}: no frame indices requested')
        video = shared_cache(self.cache_mb).get(path, decode_all, tag=self.backend)
        if inds.min() < 0 or inds.max() >= len(video):
            raise VideoReadError(f'{path}: frame indices {int(inds.min())}..{int(inds.max())} '
                                 f'outside the {len(video)} decoded frames')
        return video[inds]  # a copy: the cached array stays unchanged

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(backend={self.backend!r}, '
                f'pad_mode={self.pad_mode!r}, cache_mb={self.cache_mb:g})')
