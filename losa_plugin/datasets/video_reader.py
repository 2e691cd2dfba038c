"""Reading frames of untrimmed videos: video files (decord, PyAV fallback) or folders of
decoded frames (``img_00001.jpg`` ...).

Frame ``k`` of a video is the ``k``-th decoded frame (0-based) and is shown at
``k / fps`` seconds; every index here is in that frame numbering. For a frame folder the
``k``-th frame is the file ``filename_tmpl.format(k + start_index)``.

All errors name the file: a missing path raises :class:`FileNotFoundError`; a file that
cannot be opened or decoded (empty, corrupt, truncated) or has no frames raises
:class:`VideoReadError`; a frame folder without an fps raises :class:`ValueError`.
"""
import os
import os.path as osp
from functools import lru_cache
from typing import List, NamedTuple, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger

BACKENDS = ('auto', 'decord', 'pyav')


class VideoReadError(RuntimeError):
    """A video file exists but cannot be probed or decoded."""


class VideoInfo(NamedTuple):
    """What :func:`probe_video` learns about a video.

    Attributes:
        num_frames: number of decodable frames.
        fps: frames per second (the file's; for frame folders the given one).
        duration: ``num_frames / fps`` seconds.
    """
    num_frames: int
    fps: float
    duration: float


def is_frame_dir(path: str) -> bool:
    """True when ``path`` is a folder of decoded frames rather than a video file."""
    return osp.isdir(path)


def _check_exists(path: str) -> None:
    if not osp.exists(path):
        raise FileNotFoundError(f'video not found: {path}')
    if osp.isfile(path) and osp.getsize(path) == 0:
        raise VideoReadError(f'{path}: empty file (0 bytes), expected a video')


def video_path_of(results: dict, who: str = 'video transform') -> str:
    """The video file / frame folder of a pipeline ``results`` dict: ``video_path``
    (:class:`TALDataset`), else MMAction2's ``filename`` or ``frame_dir``."""
    for key in ('video_path', 'filename', 'frame_dir'):
        if results.get(key) is not None:
            return results[key]
    raise KeyError(f"{who}: results of video '{results.get('video_id', '?')}' lack "
                   f"'video_path' (video file or frame folder); keys: {sorted(results)}")


# ----------------------------------------------------------------------------- frames
def _count_frame_files(path: str, filename_tmpl: str, start_index: int) -> int:
    """Number of consecutive frames ``tmpl.format(start_index + k)`` present in ``path``."""
    names = set(os.listdir(path))
    n = 0
    while filename_tmpl.format(start_index + n) in names:
        n += 1
    return n


def _read_frame_files(path: str, indices: np.ndarray, filename_tmpl: str,
                      start_index: int) -> List[np.ndarray]:
    import mmcv  # deferred: image IO only needed for frame folders
    frames = []
    for k in indices:
        fname = osp.join(path, filename_tmpl.format(start_index + int(k)))
        if not osp.isfile(fname):
            raise FileNotFoundError(f'{path}: frame {int(k)} missing ({fname})')
        img = mmcv.imread(fname, channel_order='rgb')
        if img is None:
            raise VideoReadError(f'{fname}: cannot decode image')
        frames.append(img)
    return frames


# ----------------------------------------------------------------------------- decord
def _decord_reader(path: str):
    import decord
    return decord.VideoReader(path, num_threads=1)


def _probe_decord(path: str) -> VideoInfo:
    vr = _decord_reader(path)
    n, fps = len(vr), float(vr.get_avg_fps())
    return VideoInfo(n, fps, n / fps if fps > 0 else 0.0)


def _read_decord(path: str, indices: np.ndarray) -> np.ndarray:
    vr = _decord_reader(path)
    return vr.get_batch(list(map(int, indices))).asnumpy()


# ----------------------------------------------------------------------------- PyAV
def _probe_pyav(path: str) -> VideoInfo:
    import av
    with av.open(path) as container:
        if not container.streams.video:
            raise VideoReadError(f'{path}: no video stream')
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        n = int(stream.frames or 0)
        if n <= 0:  # container without a frame count (e.g. webm): count packets
            n = sum(1 for p in container.demux(stream) if p.size)
    return VideoInfo(n, fps, n / fps if fps > 0 else 0.0)


def _read_pyav(path: str, indices: np.ndarray) -> np.ndarray:
    """Decode sequentially from the start (frame k = k-th decoded frame), keeping the
    requested ones; simple and exact for variable-rate files too."""
    import av
    wanted = set(int(i) for i in indices)
    last = max(wanted)
    got = {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = 'AUTO'
        for k, frame in enumerate(container.decode(stream)):
            if k in wanted:
                got[k] = frame.to_ndarray(format='rgb24')
            if k >= last:
                break
    missing = sorted(wanted - set(got))
    if missing:
        raise VideoReadError(f'{path}: decoding stopped before frame {missing[0]} '
                             f'(decoded {len(got)} of {len(wanted)} requested frames; '
                             'truncated or corrupt file?)')
    return np.stack([got[int(i)] for i in indices])


# ----------------------------------------------------------------------------- public
@lru_cache(maxsize=1024)
def _probe_cached(path: str, mtime: float, size: int, backend: str,
                  fps: Optional[float], filename_tmpl: str, start_index: int) -> VideoInfo:
    if is_frame_dir(path):
        n = _count_frame_files(path, filename_tmpl, start_index)
        if n == 0:
            raise VideoReadError(f"{path}: frame folder holds no '{filename_tmpl}' frames "
                                 f'starting at index {start_index}')
        if fps is None or fps <= 0:
            raise ValueError(f'{path}: a frame folder has no fps of its own; give the '
                             f"video's fps in the annotation (got fps={fps})")
        return VideoInfo(n, float(fps), n / float(fps))
    errors = []
    for name, fn in _backend_chain(backend, _probe_decord, _probe_pyav):
        try:
            info = fn(path)
        except Exception as e:  # noqa: BLE001  (decord and PyAV raise their own types)
            errors.append(f'{name}: {type(e).__name__}: {e}')
            continue
        if info.num_frames <= 0:
            errors.append(f'{name}: 0 frames')
            continue
        if info.fps <= 0:
            if fps is None or fps <= 0:
                raise ValueError(f'{path}: the file states no fps and none was given')
            info = VideoInfo(info.num_frames, float(fps), info.num_frames / float(fps))
        return info
    raise VideoReadError(f'{path}: cannot read video ({"; ".join(errors)})')


def _backend_chain(backend: str, decord_fn, pyav_fn):
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    chain = []
    if backend in ('auto', 'decord'):
        chain.append(('decord', decord_fn))
    if backend in ('auto', 'pyav'):
        chain.append(('pyav', pyav_fn))
    return chain


def probe_video(path: str, fps: Optional[float] = None, backend: str = 'auto',
                filename_tmpl: str = 'img_{:05d}.jpg', start_index: int = 1) -> VideoInfo:
    """Frame count, fps and duration of a video file or frame folder.

    Args:
        path (str): video file or folder of frames.
        fps (float, optional): the annotation's fps. Required for frame folders; for
            files only used when the file states none. Default: None.
        backend (str): ``'auto'`` (decord, then PyAV when decord is missing or fails),
            ``'decord'`` or ``'pyav'``. Default: ``'auto'``.
        filename_tmpl (str): frame file names in a folder. Default: ``'img_{:05d}.jpg'``.
        start_index (int): number of the first frame file. Default: 1.

    Returns:
        VideoInfo(num_frames, fps, duration). Cached per (path, mtime, size).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoReadError: empty / corrupt file or no frames.
        ValueError: no fps for a frame folder.
    """
    _check_exists(path)
    st = os.stat(path)
    return _probe_cached(path, st.st_mtime, st.st_size, backend,
                         None if fps is None else float(fps), filename_tmpl, start_index)


def read_frames(path: str, indices: Sequence[int], backend: str = 'auto',
                filename_tmpl: str = 'img_{:05d}.jpg', start_index: int = 1) -> np.ndarray:
    """Decode the frames ``indices`` (0-based, any order, repeats allowed).

    Args:
        path (str): video file or folder of frames.
        indices (Sequence[int]): frame indices, each in ``[0, num_frames)``.
        backend, filename_tmpl, start_index: as in :func:`probe_video`.

    Returns:
        np.ndarray: ``[N, H, W, 3]`` uint8 RGB, in the order of ``indices``.

    Raises:
        FileNotFoundError, VideoReadError: as in :func:`probe_video`; also when an
            index is out of range or decoding fails part-way (truncated file).
    """
    _check_exists(path)
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise ValueError(f'{path}: no frame indices requested')
    if indices.min() < 0:
        raise VideoReadError(f'{path}: negative frame index {int(indices.min())}')
    if is_frame_dir(path):
        return np.stack(_read_frame_files(path, indices, filename_tmpl, start_index))
    # decode each distinct frame once (padding repeats the last one)
    uniq, inverse = np.unique(indices, return_inverse=True)
    errors = []
    for name, fn in _backend_chain(backend, _read_decord, _read_pyav):
        try:
            frames = fn(path, uniq)
        except Exception as e:  # noqa: BLE001
            errors.append(f'{name}: {type(e).__name__}: {e}')
            continue
        if len(errors):
            MMLogger.get_current_instance().debug(
                f'{path}: decoded with {name} after {errors}')
        return np.ascontiguousarray(frames[inverse])
    raise VideoReadError(f'{path}: cannot decode frames {int(uniq[0])}..{int(uniq[-1])} '
                         f'({"; ".join(errors)})')
