"""Untrimmed-video dataset for temporal action localization (features or raw video)."""
import os.path as osp
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np
from mmaction.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from ..engine.sample_seed import sample_seed_of, seeded_random_states
from .class_list import DEFAULT_IGNORE_LABELS
from .file_length_checks import FileLengthChecks
from .tal_annotation import load_tal_annotations
from .transforms.window_sampling import sliding_windows
from .video_files import (as_extensions, clip_segments, find_file, join_root,
                          read_video_list, report_missing)


@DATASETS.register_module()
class TALDataset(FileLengthChecks, BaseDataset):
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
        video_ext (str | Sequence[str]): video file extension(s), the first that
            exists wins (ActivityNet: ``('.mp4', '.mkv', '.webm')``); '' for folders
            of frames. Default '.mp4'.
        file_prefix (str): prepended to the video id in file names (ActivityNet
            packs often use ``'v_'``). Default ''.
        feature_format (str): layout of the feature arrays, ``'TC'`` or ``'CT'``; only
            used to count steps for test windows. Default 'TC'.
        class_names (Sequence[str] | str | None): class list or a text file with one
            name a line (relative: follows ``data_root``); None derives it from the
            file (by ``label_id`` if present, else sorted names). Default None.
        ignore_labels (Sequence[str]): labels that are not classes, dropped as the
            metric drops them. Default ``('Ambiguous',)`` (THUMOS-14, OpenTAD's file).
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
        default_fps (float | None): fps for videos whose entry has neither ``fps`` nor
            a frame count (``frame``, OpenTAD) and, for video input, whose file cannot
            be probed. Default None.
        check_files (bool): check at load time that every feature / video file
            exists. Default True.
        block_list (Sequence[str] | str | None): video ids to leave out (a list, or a
            JSON list / text file, relative paths following ``data_root``), e.g. the
            videos a feature pack lacks. Counted in the log. Default None.
        video_ids (Sequence[str] | str | None): keep only these videos (same forms),
            e.g. a held-out part of the training videos for validation. Default None.
        max_missing_fraction (float): missing files are skipped with a warning naming
            them; more than this fraction of the subset missing is a
            ``FileNotFoundError``. Default 0.1.
        unknown_label (str): ``'error'`` or ``'skip'`` (see the parser). Default 'error'.
        duration_check (str): what a video file (or feature file) much shorter than
            its annotated ``duration`` gives: ``'warn'`` (default; one warning naming
            each such video; in training its ground truth past the file's end is
            dropped, or clipped to the end, and counted), ``'error'`` (``ValueError``
            naming them) or ``'off'`` (no check, ground truth kept).
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

    Bad input (docs/data.md, docs/robustness.md): malformed annotation values, an
    unknown label or an empty subset are a ``ValueError`` from the parser naming the
    file, video and field; segments past the video's ``duration`` are clipped or
    dropped in training (counted; the real THUMOS-14 file has 26 such test segments,
    e.g. ``video_test_0000270``); missing files and files shorter than their
    annotation are named in a warning (see ``max_missing_fraction`` and
    ``duration_check``).

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
                 video_ext: Union[str, Sequence[str]] = '.mp4',
                 file_prefix: str = '',
                 feature_format: str = 'TC',
                 class_names: Optional[Union[Sequence[str], str]] = None,
                 ignore_labels: Sequence[str] = DEFAULT_IGNORE_LABELS,
                 feature_stride: float = 4,
                 frames_per_feature: float = 16,
                 remove_duplicates: Optional[bool] = None,
                 test_window: Optional[dict] = None,
                 test_mode: bool = False,
                 filter_empty_gt: Optional[bool] = None,
                 clip_to_duration: Optional[bool] = None,
                 default_fps: Optional[float] = None,
                 check_files: bool = True,
                 block_list: Optional[Union[Sequence[str], str]] = None,
                 video_ids: Optional[Union[Sequence[str], str]] = None,
                 max_missing_fraction: float = 0.1,
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
        if not 0 <= max_missing_fraction <= 1:
            raise ValueError('max_missing_fraction must be in [0, 1], got '
                             f'{max_missing_fraction!r}')
        self.subset = subset
        self.input_type = input_type
        self.file_exts = as_extensions(feature_ext, 'feature_ext') if input_type == 'feature' \
            else as_extensions(video_ext, 'video_ext')
        self.file_prefix = file_prefix
        self.feature_format = feature_format
        self.class_names = join_root(class_names, data_root) \
            if isinstance(class_names, str) else class_names
        self.ignore_labels = tuple(ignore_labels)
        self.block_list = read_video_list(block_list, data_root)
        self.video_ids = None if video_ids is None else \
            read_video_list(video_ids, data_root, 'video_ids')
        self.max_missing_fraction = float(max_missing_fraction)
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
                                      unknown_label=self.unknown_label,
                                      ignore_labels=self.ignore_labels)
        self._metainfo['classes'] = tuple(videos[0]['class_names'])
        if self.class_agnostic:
            self._metainfo['annotation_classes'] = self._metainfo['classes']
            self._metainfo['classes'] = ('action', )
            self._metainfo['class_agnostic'] = True
            n_seg = sum(len(v['labels']) for v in videos)
            n_cls = len({int(c) for v in videos for c in v['labels']})
            logger.info(f'{self.ann_file} [{self.subset}]: class_agnostic: {n_seg} segments '
                        f'of {n_cls} classes mapped to label 0')
        self._counts = dict(clipped=0, dropped=0, empty=0, blocked=0, short_clipped=0,
                            short_dropped=0)
        data_list, missing, short = [], [], []
        checked = 0
        for video in videos:
            if video['video_id'] in self.block_list or (
                    self.video_ids is not None and video['video_id'] not in self.video_ids):
                self._counts['blocked'] += 1
                continue
            info = self._video_info(video)
            if info is None:  # no usable ground truth
                continue
            checked += 1
            if info[f'{self.input_type}_path'] is None:
                missing.append((video['video_id'], self._expected_path(video['video_id'])))
                continue
            if self._short_of_file(info, video, short):  # short file, nothing left
                continue
            data_list.extend(self._split_windows(info))
        report_missing(missing, checked, self.max_missing_fraction,
                       f'{self.ann_file} [{self.subset}]', self.input_type, self.test_mode)
        if short:
            self._report_short(short)
        self._log_counts()
        if not data_list:
            raise ValueError(f'{self.ann_file}: subset {self.subset!r} has no usable '
                             f"videos ({self._counts['empty']} without ground truth, "
                             f'{len(missing)} missing)')
        return data_list

    def _expected_path(self, vid: str) -> str:
        return osp.join(self.data_prefix[self.input_type],
                        f'{self.file_prefix}{vid}{self.file_exts[0]}')

    def _video_info(self, video: dict) -> Optional[dict]:
        """One video's data info (its file path None when missing), or None when
        training filters it out for lack of ground truth."""
        vid = video['video_id']
        segments, labels = video['segments'], video['labels']
        if self.class_agnostic:
            labels = np.zeros_like(labels)
        if self.clip_to_duration and video['duration'] is not None:
            segments, labels, clipped, dropped = clip_segments(
                segments, labels, video['duration'])
            self._counts['clipped'] += clipped
            self._counts['dropped'] += dropped
        if self.filter_empty_gt and len(segments) == 0:
            self._counts['empty'] += 1
            return None
        if self.check_files:
            path = find_file(self.data_prefix[self.input_type], self.file_prefix + vid,
                             self.file_exts, self.input_type == 'video')
        else:
            path = self._expected_path(vid)
        info = dict(video_id=vid, fps=None, duration=video['duration'],
                    segments=segments.astype(np.float32), labels=labels,
                    feature_stride=self.feature_stride,
                    frames_per_feature=self.frames_per_feature)
        info[f'{self.input_type}_path'] = path
        if path is None:
            return info
        info['fps'] = self._fps(video, path)
        if self.input_type == 'video':
            info['total_frames'] = self._frame_hint(info)
        return info

    def _log_counts(self) -> None:
        logger, c = MMLogger.get_current_instance(), self._counts
        where = f'{self.ann_file} [{self.subset}]'
        if c['blocked']:
            logger.info(f"{where}: left out {c['blocked']} videos (block_list / video_ids)")
        if c['clipped'] or c['dropped']:
            logger.info(f"{where}: {c['clipped'] + c['dropped']} segments extend past the "
                        f"video duration: {c['clipped']} clipped to it, {c['dropped']} "
                        'starting at/after it dropped')
        if c['empty']:
            logger.info(f"{where}: skipped {c['empty']} videos without usable ground truth")
        self.num_clipped_segments, self.num_dropped_segments = c['clipped'], c['dropped']
        self.num_empty_videos = c['empty']
        self.num_short_clipped_segments = c['short_clipped']
        self.num_short_dropped_segments = c['short_dropped']

    def prepare_data(self, idx: Any) -> Any:
        """The pipeline's output for ``idx``; with a seeded index (from
        :class:`~losa_plugin.engine.SeededSampler`) under the index's own random
        states."""
        seed = sample_seed_of(idx)
        if seed is None:
            return super().prepare_data(idx)
        with seeded_random_states(seed):
            return super().prepare_data(int(idx))

    def _fps(self, video: dict, path: str) -> float:
        """The annotation's fps (its field, else frame count / duration), else the video
        file's own, else ``default_fps``."""
        if video['fps'] is not None:
            return video['fps']
        if self.input_type == 'video' and osp.isfile(path):  # folders need an fps
            try:
                from losa_plugin.datasets.video_reader import probe_video
                return float(probe_video(path).fps)
            except ImportError:
                pass
            except (OSError, ValueError, RuntimeError):  # VideoReadError
                if self.default_fps is None:
                    raise
        if self.default_fps is not None:
            return float(self.default_fps)
        raise ValueError(f"{self.ann_file}: video '{video['video_id']}' has no field 'fps' "
                         "nor a frame count 'frame' and the dataset has no default_fps; "
                         'set default_fps=... in the dataset config')

    @staticmethod
    def _frame_hint(info: dict) -> Optional[int]:
        if info['duration'] is None:
            return None
        return int(round(info['duration'] * info['fps']))

    def _split_windows(self, info: dict) -> List[dict]:
        if not (self.test_mode and self.test_window is not None):
            return [info]
        total = self._count_steps(info)
        windows = sliding_windows(total, int(self.test_window['size']),
                                  float(self.test_window.get('overlap', 0.0)))
        return [dict(info, window_start=start, window_len=length)
                for start, length in windows]
