"""Untrimmed-video dataset for temporal action localization (features or raw video)."""
import os.path as osp
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np
from mmaction.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from ..engine.sample_seed import sample_seed_of, seeded_random_states
from .tal_annotation import load_tal_annotations
from .transforms.window_sampling import sliding_windows

_SHOW_MISSING = 5  # how many missing files an error message lists


def _probe_num_frames(path: str, fps: Optional[float]) -> Optional[int]:
    """Frame count read from the video file or frame folder, or None when the video
    reader module is not available. Imported lazily so a feature-only setup never
    loads a video decoder."""
    try:
        from losa_plugin.datasets.video_reader import probe_video
    except ImportError:
        return None
    return int(probe_video(path, fps=fps).num_frames)


@DATASETS.register_module()
class TALDataset(BaseDataset):
    """Videos of one or more subsets of an ActivityNet-style annotation file.

    Each entry is a whole untrimmed video (training; the pipeline crops a random
    window) or, in test mode with ``test_window``, one sliding window of it.
    Annotations are read by :func:`load_tal_annotations` (the parser the metric uses).

    Args:
        ann_file (str): the ``database`` JSON (joined with ``data_root`` if relative).
        subset (str | Sequence[str]): subset name(s) to load.
        pipeline (Sequence[dict | Callable]): transforms. Default ().
        data_root (str): root joined to relative ``ann_file`` and ``data_prefix``.
            Default ''.
        data_prefix (dict): ``dict(feature='dir')`` for ``input_type='feature'`` or
            ``dict(video='dir')`` for ``'video'``. Default ``dict(feature='')``.
        input_type (str): ``'feature'`` (pre-extracted ``.npy``) or ``'video'``.
            Default 'feature'.
        feature_ext (str): feature file extension. Default '.npy'.
        video_ext (str): video file extension; '' for folders of frames.
            Default '.mp4'.
        file_prefix (str): prepended to the video id in file names (ActivityNet
            packs often use ``'v_'``). Default ''.
        feature_format (str): layout of the feature arrays, ``'TC'`` or ``'CT'``; only
            used to count steps for test windows. Default 'TC'.
        class_names (Sequence[str] | str | None): class list or a text file with one
            name a line; None derives it from the file (by ``label_id`` if present,
            else sorted names). Default None.
        feature_stride (float): frames of the original video between two features
            (for video input: between two grid cells of the backbone). Default 4.
        frames_per_feature (float): frames one feature covers; the first cell sits at
            ``window_start + 0.5 * frames_per_feature`` frames. Default 16.
        remove_duplicates (bool | None): drop duplicate ground truth (same label,
            bounds within 1e-3 s). None means True in training (as ActionFormer) and
            False in test mode (the metric evaluates the file's ground truth anyway).
        test_window (dict | None): ``dict(size=int, overlap=float)`` to split each
            test video into sliding windows; ``size`` in feature steps
            (``input_type='feature'``) or frames (``'video'``). None runs whole
            videos. Only used in test mode. Default None.
        test_mode (bool): inference dataset. Default False.
        filter_empty_gt (bool | None): drop videos without usable ground truth (after
            clipping), logged. None means ``not test_mode``.
        clip_to_duration (bool | None): clip segments ending after the video's
            duration to it and drop those starting at / after it (and clip negative
            starts to 0), counted and logged once. None means ``not test_mode``; in
            test mode segments are kept as the file gives them.
        default_fps (float | None): fps for videos whose entry has none. Default None.
        check_files (bool): check at load time that every feature / video file
            exists. Default True.
        unknown_label (str): ``'error'`` or ``'skip'`` (see the parser). Default 'error'.
        duration_check (str): what a video file (or feature file) much shorter than
            its annotated ``duration`` gives: ``'warn'`` (default; one warning naming
            each such video), ``'error'`` (``ValueError`` naming them) or ``'off'``.
            The file's length comes from the video probe (video input; also fills
            ``total_frames``) or from the feature file's header: ``((T - 1) *
            feature_stride + frames_per_feature) / fps`` seconds, checked only when the
            annotation gives the fps (with ``default_fps`` the features' rate is a
            guess). Only with ``check_files``.
        duration_tolerance (float): the fraction of the annotated duration a file may
            lack before it counts as shorter. Default 0.1.
        class_agnostic (bool): map every label to 0 (after duplicate removal on the
            real labels, as ActionFormer), for a one-class detector whose segments get
            their classes from an external video-level classifier at test time
            (``TALMetric(ext_score_file=...)``, docs/evaluation.md). Logged; the
            dataset's ``metainfo['classes']`` becomes ``('action',)`` and
            ``metainfo['annotation_classes']`` keeps the file's list. Default False.
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset` (``indices``,
            ``serialize_data``, ``lazy_init``, ``max_refetch``, ``metainfo``).

    Bad input (see also docs/robustness.md):
        * malformed or out-of-range annotation values (types, fps <= 0, duration <= 0,
          a segment starting before 0 s or with end < start): ``ValueError`` from the
          parser naming the file, the video and the field (both modes);
        * a video / feature file shorter than its annotated duration by more than
          ``duration_tolerance``: a warning naming it (``duration_check='error'``:
          ``ValueError``);
        * a segment past the video's ``duration`` (training): clipped (end after it)
          or dropped (start at / after it); totals logged once per dataset. The real
          THUMOS-14 file has 26 such test segments (e.g. ``video_test_0000270``);
        * an unknown label or an empty subset: ``ValueError`` from the parser;
        * missing feature / video files: ``FileNotFoundError`` with the count and the
          first few videos and paths;
        * no ``fps`` (feature input, or video input without a probe) and no
          ``default_fps``: ``ValueError`` naming the video and the field ``fps``.

    Data info per entry: ``video_id``, ``fps``, ``duration`` (s or None),
    ``segments`` [N, 2] float32 seconds, ``labels`` [N] int64, ``feature_path`` or
    ``video_path``, ``feature_stride``, ``frames_per_feature``; in test mode with a
    test window ``window_start`` (steps for features, frames for video) and
    ``window_len``; for video also ``total_frames`` (from the file when
    ``video_reader.probe_video`` exists and a frame count is needed, else
    ``round(duration * fps)`` as a hint, or None).

    Per-sample seeds: an index from :class:`~losa_plugin.engine.SeededSampler` carries
    a seed derived from (sampler seed, epoch, position); the pipeline of that sample then
    runs with numpy's, Python's and torch's global random states seeded from it (and the
    caller's states restored afterwards), so a random training window depends on neither
    the data-loader worker that loads it nor an interruption of the run
    (docs/robustness.md, exact resume). A plain index runs on the global states as they
    are (mmengine's per-worker seeding).
    """

    def __init__(self,
                 ann_file: str,
                 subset: Union[str, Sequence[str]],
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 input_type: str = 'feature',
                 feature_ext: str = '.npy',
                 video_ext: str = '.mp4',
                 file_prefix: str = '',
                 feature_format: str = 'TC',
                 class_names: Optional[Union[Sequence[str], str]] = None,
                 feature_stride: float = 4,
                 frames_per_feature: float = 16,
                 remove_duplicates: Optional[bool] = None,
                 test_window: Optional[dict] = None,
                 test_mode: bool = False,
                 filter_empty_gt: Optional[bool] = None,
                 clip_to_duration: Optional[bool] = None,
                 default_fps: Optional[float] = None,
                 check_files: bool = True,
                 unknown_label: str = 'error',
                 duration_check: str = 'warn',
                 duration_tolerance: float = 0.1,
                 class_agnostic: bool = False,
                 **kwargs) -> None:
        if input_type not in ('feature', 'video'):
            raise ValueError(f"input_type must be 'feature' or 'video', got {input_type!r}")
        if feature_format not in ('TC', 'CT'):
            raise ValueError(f"feature_format must be 'TC' or 'CT', got {feature_format!r}")
        if data_prefix is None:
            data_prefix = {input_type: ''}
        if input_type not in data_prefix:
            raise ValueError(f"data_prefix needs the key '{input_type}' for "
                             f"input_type='{input_type}', got {data_prefix!r}")
        if test_window is not None:
            if not (isinstance(test_window, dict) and 'size' in test_window):
                raise ValueError('test_window must be dict(size=int, overlap=float), got '
                                 f'{test_window!r}')
        if duration_check not in ('warn', 'error', 'off'):
            raise ValueError("duration_check must be 'warn', 'error' or 'off', got "
                             f'{duration_check!r}')
        if not 0 <= duration_tolerance < 1:
            raise ValueError(f'duration_tolerance must be in [0, 1), got {duration_tolerance!r}')
        self.subset = subset
        self.input_type = input_type
        self.file_ext = feature_ext if input_type == 'feature' else video_ext
        self.file_prefix = file_prefix
        self.feature_format = feature_format
        self.class_names = class_names
        self.feature_stride = float(feature_stride)
        self.frames_per_feature = float(frames_per_feature)
        self.remove_duplicates = (not test_mode) if remove_duplicates is None \
            else remove_duplicates
        self.test_window = test_window
        self.filter_empty_gt = (not test_mode) if filter_empty_gt is None else filter_empty_gt
        self.clip_to_duration = (not test_mode) if clip_to_duration is None \
            else clip_to_duration
        self.default_fps = default_fps
        self.check_files = check_files
        self.unknown_label = unknown_label
        self.duration_check = duration_check
        self.duration_tolerance = float(duration_tolerance)
        self.class_agnostic = bool(class_agnostic)
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         pipeline=list(pipeline), test_mode=test_mode, **kwargs)

    # ------------------------------------------------------------------ loading
    def load_data_list(self) -> List[dict]:
        """Parse the annotation file into one entry per video (or test window)."""
        logger = MMLogger.get_current_instance()
        videos = load_tal_annotations(self.ann_file, self.subset, self.class_names,
                                      remove_duplicates=self.remove_duplicates,
                                      unknown_label=self.unknown_label)
        self._metainfo['classes'] = tuple(videos[0]['class_names'])
        if self.class_agnostic:
            self._metainfo['annotation_classes'] = self._metainfo['classes']
            self._metainfo['classes'] = ('action', )
            self._metainfo['class_agnostic'] = True
            n_seg = sum(len(v['labels']) for v in videos)
            n_cls = len({int(c) for v in videos for c in v['labels']})
            logger.info(f'{self.ann_file} [{self.subset}]: class_agnostic: {n_seg} segments '
                        f'of {n_cls} classes mapped to label 0')
        path_key = f'{self.input_type}_path'
        n_clipped = n_dropped = n_empty = 0
        data_list, missing, short = [], [], []
        for video in videos:
            vid = video['video_id']
            segments, labels = video['segments'], video['labels']
            if self.class_agnostic:
                labels = np.zeros_like(labels)
            if self.clip_to_duration and video['duration'] is not None:
                segments, labels, clipped, dropped = self._clip(
                    segments, labels, video['duration'])
                n_clipped += clipped
                n_dropped += dropped
            if self.filter_empty_gt and len(segments) == 0:
                n_empty += 1
                continue
            path = osp.join(self.data_prefix[self.input_type],
                            f'{self.file_prefix}{vid}{self.file_ext}')
            # a video may also be a folder of frames (video_ext='')
            exists = osp.isfile(path) if self.input_type == 'feature' else osp.exists(path)
            if self.check_files and not exists:
                missing.append((vid, path))
                continue
            info = dict(video_id=vid, fps=self._fps(video, path),
                        duration=video['duration'],
                        segments=segments.astype(np.float32), labels=labels,
                        feature_stride=self.feature_stride,
                        frames_per_feature=self.frames_per_feature)
            info[path_key] = path
            if self.input_type == 'video':
                info['total_frames'] = self._frame_hint(info)
            if self.check_files and self.duration_check != 'off':
                covered = self._file_seconds(info, video['fps'] is not None)
                if covered is not None and covered < (1 - self.duration_tolerance) \
                        * info['duration']:
                    short.append((vid, path, covered, info['duration']))
            data_list.extend(self._split_windows(info))
        if missing:
            shown = '; '.join(f"video '{v}': {p}" for v, p in missing[:_SHOW_MISSING])
            raise FileNotFoundError(
                f'{self.ann_file}: {len(missing)} of {len(videos)} {self.input_type} '
                f'files of subset {self.subset!r} are missing, e.g. {shown}')
        if short:
            self._report_short(short)
        if n_clipped or n_dropped:
            logger.info(f'{self.ann_file} [{self.subset}]: {n_clipped + n_dropped} '
                        f'segments extend past the video duration: {n_clipped} clipped '
                        f'to it, {n_dropped} starting at/after it dropped')
        if n_empty:
            logger.info(f'{self.ann_file} [{self.subset}]: skipped {n_empty} videos '
                        'without usable ground truth')
        self.num_clipped_segments, self.num_dropped_segments = n_clipped, n_dropped
        self.num_empty_videos = n_empty
        if not data_list:
            raise ValueError(f'{self.ann_file}: subset {self.subset!r} has no usable '
                             f'videos ({n_empty} without ground truth)')
        return data_list

    def prepare_data(self, idx: Any) -> Any:
        """The pipeline's output for ``idx``; with a seeded index (from
        :class:`~losa_plugin.engine.SeededSampler`) under the index's own random
        states."""
        seed = sample_seed_of(idx)
        if seed is None:
            return super().prepare_data(idx)
        with seeded_random_states(seed):
            return super().prepare_data(int(idx))

    def _file_seconds(self, info: dict, fps_from_annotation: bool) -> Optional[float]:
        """Seconds the video / feature file covers, or None when unknown (no duration,
        no probe, features with a guessed fps)."""
        if info['duration'] is None:
            return None
        if self.input_type == 'video':
            try:
                num = _probe_num_frames(info['video_path'], info['fps'])
            except (OSError, ValueError, RuntimeError):  # VideoReadError: reported when read
                return None
            if num is None:
                return None
            info['total_frames'] = num
            return num / info['fps']
        if not fps_from_annotation:
            return None
        steps = self._count_steps(info)
        return ((steps - 1) * self.feature_stride + self.frames_per_feature) / info['fps']

    def _report_short(self, short: list) -> None:
        shown = '; '.join(f"video '{v}': {p} covers {c:.2f} s of {d:.2f} s"
                          for v, p, c, d in short[:_SHOW_MISSING])
        msg = (f'{self.ann_file} [{self.subset}]: {len(short)} files are shorter than '
               f'their annotated duration by more than {self.duration_tolerance:.0%}: '
               f'{shown}')
        if self.duration_check == 'error':
            raise ValueError(msg + " (duration_check='warn' to go on)")
        MMLogger.get_current_instance().warning(
            msg + '; ground truth past the end of a file cannot be learned')

    @staticmethod
    def _clip(segments: np.ndarray, labels: np.ndarray, duration: float):
        """Training policy for segments outside [0, duration] seconds."""
        keep = segments[:, 0] < duration
        dropped = int((~keep).sum())
        segments, labels = segments[keep], labels[keep]
        clipped = int((segments[:, 1] > duration).sum() + (segments[:, 0] < 0).sum())
        segments = segments.clip(0, duration)
        return segments, labels, clipped, dropped

    def _fps(self, video: dict, path: str) -> float:
        if video['fps'] is not None:
            return video['fps']
        if self.default_fps is not None:
            return float(self.default_fps)
        if self.input_type == 'video':
            try:
                from losa_plugin.datasets.video_reader import probe_video
            except ImportError:
                probe_video = None
            if probe_video is not None and osp.isfile(path):  # folders need an fps
                return float(probe_video(path).fps)
        raise ValueError(f"{self.ann_file}: video '{video['video_id']}' has no field 'fps' "
                         'and the dataset has no default_fps; set default_fps=... in the '
                         'dataset config')

    @staticmethod
    def _frame_hint(info: dict) -> Optional[int]:
        if info['duration'] is None:
            return None
        return int(round(info['duration'] * info['fps']))

    def _count_steps(self, info: dict) -> int:
        """Length along time of a video, in the units of ``test_window``."""
        if self.input_type == 'feature':
            path = info['feature_path']
            try:
                shape = np.load(path, mmap_mode='r').shape  # header only
            except (OSError, ValueError) as e:
                raise ValueError(f"video '{info['video_id']}': cannot read feature file "
                                 f'{path} ({e})') from None
            if len(shape) != 2:
                raise ValueError(f"video '{info['video_id']}': feature file {path} has shape "
                                 f'{shape}, expected 2-D ({self.feature_format})')
            return int(shape[0] if self.feature_format == 'TC' else shape[1])
        num = _probe_num_frames(info['video_path'], info['fps']) \
            if osp.exists(info['video_path']) else None
        if num is not None:
            info['total_frames'] = num
        if info['total_frames'] is None:
            raise ValueError(f"video '{info['video_id']}': cannot count frames for test "
                             "windows (no 'duration' in the annotation and no video probe)")
        return info['total_frames']

    def _split_windows(self, info: dict) -> List[dict]:
        if not (self.test_mode and self.test_window is not None):
            return [info]
        total = self._count_steps(info)
        windows = sliding_windows(total, int(self.test_window['size']),
                                  float(self.test_window.get('overlap', 0.0)))
        return [dict(info, window_start=start, window_len=length)
                for start, length in windows]
