"""Choosing which frames of an untrimmed video form one window."""
import math
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger

from mmaction.registry import TRANSFORMS

from ..video_reader import VideoInfo, probe_video, video_path_of
from .window_sampling import sample_train_window, truncate_segments

# relative disagreement between the annotation's fps and the file's that we report
_FPS_TOLERANCE = 0.01
# widening of a training crop each side (cells) when deciding which ground truth it keeps
_TRUNC_OFFSET = 0.5


@TRANSFORMS.register_module()
class SampleVideoWindow(BaseTransform):
    """Pick the frame indices of one window of an untrimmed video.

    A window is ``T = num_clips`` clips of ``T' = clip_len`` frames sampled every
    ``frame_interval`` frames; a grid cell (one feature of the backbone's last layer,
    e.g. one tubelet of a ViT) spans ``frames_per_cell`` sampled frames, so
    ``feature_stride = frames_per_cell * frame_interval`` original frames and the window
    holds ``num_clips * clip_len / frames_per_cell`` cells (the head's max sequence).

    Grid convention (:mod:`losa_plugin.utils.time_grid`): frame ``k`` is shown during
    ``[k, k + 1)`` in frame units (``k / fps`` seconds), so cell ``i`` covers frames
    ``[window_start + i * feature_stride, window_start + (i + 1) * feature_stride)``
    and the grid position ``i`` is at frame ``window_offset + i * feature_stride`` with
    ``window_offset = window_start + cell_centre * frame_interval``: by default
    (``cell_centre = frames_per_cell / 2``) the centre of the cell's span, right for a
    ViT tubelet that sees all its frames. A backbone whose cell is centred elsewhere
    sets it: SlowFast's slow step ``k`` is the clip's frame ``k * frames_per_cell``
    (shown during ``[k r, k r + 1)`` sampled frames), so ``cell_centre=0.5``.

    Sampling modes:

    * ``'stride'`` (THUMOS-14): frames ``window_start + j * frame_interval``.
      Training picks a random window with :func:`sample_train_window` (in cell units),
      keeping at least ``trunc_thresh`` of one ground-truth segment, optionally a
      shorter random crop (``crop_ratio``) of videos that fit in one window. A crop
      keeps a segment only when ``trunc_thresh`` of it lies in the crop widened by half
      a cell each side, clipped there (ActionFormer's ``truncate_feats``,
      :func:`truncate_segments`; ``gt_clip_range`` passes the range to
      :class:`PackTALInputs`); without a crop the ground truth is left as it is.
      Testing uses the dataset's window (``results['window_start']`` /
      ``results['window_len']``, in original frames) or, without one, the whole video.
    * ``'resize'`` (ActivityNet-v1.3): the whole video resampled to exactly
      ``num_clips * clip_len`` frames (frame ``floor(j * N / F)``), so every video gives
      the same number of cells; ``feature_stride = frames_per_cell * N / F`` (float).

    Frames past the end of the video are padded (the index repeats the last valid
    frame) up to a multiple of ``clip_len``, at least one clip; ``valid_len`` counts
    the real ones. A video shorter than one clip is therefore padded, not rejected; a
    test window (``window_len``) shorter than one clip of a longer video is refused.

    fps: frame indices come from the file, so the file's fps is the one that maps
    them to seconds; when the annotation's fps differs by more than 1 % we use the
    file's, log a warning, and keep the annotation's ``duration`` (the metric
    evaluates against the annotation). Frame folders take the annotation's fps.

    Required keys: ``video_path`` (video file or frame folder, as :class:`TALDataset`
    sets it; MMAction2's ``filename`` is accepted too), ``segments`` ([N, 2] seconds,
    training only), optional ``fps``, ``duration``, ``window_start``, ``window_len``
    (original frames, the dataset's test windows), ``filename_tmpl``, ``start_index``.

    Added keys: ``frame_inds`` [F] int64 (F a multiple of ``clip_len``), ``valid_len``,
    ``window_start``, ``window_offset``, ``feature_stride``, ``fps``, ``duration``,
    ``total_frames``, ``clip_len``, ``num_clips`` (clips in this window),
    ``frame_interval``, ``grid_len`` (= ``valid_len / frames_per_cell``, the window's
    valid length in cells, read by ``PackTALInputs``); in training also
    ``gt_clip_range`` and the crop's ``segments`` / ``labels`` (see ``'stride'``).

    Args:
        clip_len (int): frames per clip T'. Default: 16.
        frame_interval (int): original frames between sampled frames. Default: 1.
        num_clips (int): clips per window (max); window = num_clips * clip_len sampled
            frames. Default: 72 (576 cells for a tubelet-2 ViT).
        frames_per_cell (int): sampled frames per grid cell (the backbone's temporal
            downsampling, 2 for tubelet-2 ViTs). Must divide ``clip_len``. Default: 2.
        mode (str): ``'stride'`` or ``'resize'``. Default: ``'stride'``.
        test_mode (bool): dataset window / whole video instead of random. Default: False.
        trunc_thresh (float): minimum kept fraction of one segment when training.
            Default: 0.5.
        crop_ratio (Sequence[float], optional): ``(lo, hi)`` random crop of videos that
            fit a window (training). Default: None.
        backend (str): video backend for probing (``'auto'``, ``'decord'``, ``'pyav'``).
            Default: ``'auto'``.
        filename_tmpl (str): frame file names of frame folders. Default:
            ``'img_{:05d}.jpg'``.
        start_index (int): number of the first frame file. Default: 1.
        cell_centre (float, optional): where in a cell (in sampled frames from its
            first) the grid position sits. Default: None (``frames_per_cell / 2``).
    """

    def __init__(self,
                 clip_len: int = 16,
                 frame_interval: int = 1,
                 num_clips: int = 72,
                 frames_per_cell: int = 2,
                 mode: str = 'stride',
                 test_mode: bool = False,
                 trunc_thresh: float = 0.5,
                 crop_ratio: Optional[Sequence[float]] = None,
                 backend: str = 'auto',
                 filename_tmpl: str = 'img_{:05d}.jpg',
                 start_index: int = 1,
                 cell_centre: Optional[float] = None) -> None:
        for name, v in (('clip_len', clip_len), ('frame_interval', frame_interval),
                        ('num_clips', num_clips), ('frames_per_cell', frames_per_cell)):
            if int(v) != v or v < 1:
                raise ValueError(f'SampleVideoWindow: {name} must be a positive int, got {v!r}')
        if clip_len % frames_per_cell:
            raise ValueError(f'SampleVideoWindow: frames_per_cell={frames_per_cell} must '
                             f'divide clip_len={clip_len}')
        if mode not in ('stride', 'resize'):
            raise ValueError(f"SampleVideoWindow: mode must be 'stride' or 'resize', got {mode!r}")
        self.clip_len = int(clip_len)
        self.frame_interval = int(frame_interval)
        self.num_clips = int(num_clips)
        self.frames_per_cell = int(frames_per_cell)
        self.mode = mode
        self.test_mode = test_mode
        self.trunc_thresh = trunc_thresh
        self.crop_ratio = crop_ratio
        self.backend = backend
        self.filename_tmpl = filename_tmpl
        self.start_index = start_index
        self.cell_centre = frames_per_cell / 2 if cell_centre is None else float(cell_centre)
        if not 0 <= self.cell_centre <= frames_per_cell:
            raise ValueError(f'SampleVideoWindow: cell_centre={cell_centre} must lie in '
                             f'[0, frames_per_cell={frames_per_cell}]')

    @property
    def window_frames(self) -> int:
        """Sampled frames of a full window (``num_clips * clip_len``)."""
        return self.num_clips * self.clip_len

    def _rng(self) -> np.random.Generator:
        # derived from numpy's global state, which mmengine seeds per worker
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))

    def probe(self, results: dict) -> VideoInfo:
        """Frame count and fps of the video of ``results`` (the file's fps; the
        annotation's ``results['fps']`` only for frame folders), warning when the
        annotation's fps disagrees with the file's."""
        path = video_path_of(results, 'SampleVideoWindow')
        ann_fps = results.get('fps')
        info = probe_video(path, fps=ann_fps, backend=self.backend,
                           filename_tmpl=results.get('filename_tmpl', self.filename_tmpl),
                           start_index=results.get('start_index', self.start_index))
        if ann_fps is not None and abs(info.fps - ann_fps) > _FPS_TOLERANCE * info.fps:
            MMLogger.get_current_instance().warning(
                f'{path}: annotation fps {ann_fps} differs from the file\'s {info.fps:.3f}; '
                "using the file's (frame indices come from the file)")
        return info

    def _stride_window(self, results: dict, num_frames: int, fps: float) -> Tuple[int, int]:
        """(window_start frame, number of sampled frames before padding)."""
        s, stride = self.frame_interval, self.frames_per_cell * self.frame_interval
        if self.test_mode:
            start = int(results.get('window_start') or 0)
            if not 0 <= start < num_frames:
                raise ValueError(f"{video_path_of(results)}: window_start={start} outside the "
                                 f'video (0..{num_frames - 1} frames)')
            if results.get('window_len') is None:  # whole video from start
                return start, math.ceil((num_frames - start) / s)
            window_len = int(results['window_len'])
            if window_len < self.clip_len * s and num_frames - start > window_len:
                # a configured window shorter than a clip (a video that is itself
                # shorter than one clip is padded, as documented above)
                raise ValueError(
                    f'{video_path_of(results)}: test window of {window_len} frames is '
                    f'shorter than one clip (clip_len={self.clip_len} x frame_interval='
                    f'{s} = {self.clip_len * s} frames); raise the dataset\'s '
                    'test_window.size')
            length = min(window_len, num_frames - start)
            return start, min(math.ceil(length / s), self.window_frames)
        total_cells = math.ceil(num_frames / stride)
        segs = np.asarray(results.get('segments', np.zeros((0, 2))),
                          dtype=np.float64).reshape(-1, 2)
        # Grid positions of the whole video (cell i's position sits cell_centre into it);
        # ActionFormer's truncation widens a crop by half a feature's span: half a cell.
        centre = self.cell_centre / self.frames_per_cell
        grid = segs * fps / stride - centre
        start_cell, n_cells = sample_train_window(
            total_cells, self.window_frames // self.frames_per_cell, grid, self._rng(),
            trunc_thresh=self.trunc_thresh, crop_ratio=self.crop_ratio,
            offset=_TRUNC_OFFSET)
        if n_cells < total_cells:  # a crop: ActionFormer's rule for its ground truth
            keep, clipped = truncate_segments(grid, start_cell, n_cells, self.trunc_thresh,
                                              _TRUNC_OFFSET)
            results['segments'] = (clipped + centre) * stride / fps
            if 'labels' in results:
                results['labels'] = np.asarray(results['labels']).reshape(-1)[keep]
            results['gt_clip_range'] = (-_TRUNC_OFFSET, n_cells + _TRUNC_OFFSET)
        else:
            results['gt_clip_range'] = (-np.inf, np.inf)
        return start_cell * stride, n_cells * self.frames_per_cell

    def transform(self, results: dict) -> dict:
        num_frames, fps, _ = self.probe(results)

        if self.mode == 'resize':
            n_sampled = self.window_frames
            inds = np.floor(np.arange(n_sampled) * num_frames / n_sampled).astype(np.int64)
            window_start, feature_stride = 0, self.frames_per_cell * num_frames / n_sampled
        else:
            window_start, n_sampled = self._stride_window(results, num_frames, fps)
            inds = window_start + np.arange(n_sampled, dtype=np.int64) * self.frame_interval
            feature_stride = float(self.frames_per_cell * self.frame_interval)

        valid_len = int((inds < num_frames).sum())  # indices ascend: the valid ones lead
        padded = max(self.clip_len, math.ceil(len(inds) / self.clip_len) * self.clip_len)
        frame_inds = np.full(padded, inds[valid_len - 1], dtype=np.int64)
        frame_inds[:valid_len] = inds[:valid_len]

        duration = results.get('duration')
        results.update(
            frame_inds=frame_inds, valid_len=valid_len, window_start=int(window_start),
            feature_stride=float(feature_stride),
            window_offset=float(window_start + self.cell_centre * feature_stride
                                / self.frames_per_cell),
            fps=float(fps), total_frames=int(num_frames),
            duration=float(num_frames / fps) if duration is None else float(duration),
            clip_len=self.clip_len, num_clips=padded // self.clip_len,
            frame_interval=self.frame_interval,
            grid_len=valid_len / self.frames_per_cell)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(clip_len={self.clip_len}, '
                f'frame_interval={self.frame_interval}, num_clips={self.num_clips}, '
                f'frames_per_cell={self.frames_per_cell}, '
                f'cell_centre={self.cell_centre}, mode={self.mode!r}, '
                f'test_mode={self.test_mode}, trunc_thresh={self.trunc_thresh}, '
                f'crop_ratio={self.crop_ratio})')
