"""Checks of a file's length against its annotation, mixed into :class:`TALDataset`.

A video (or feature) file far shorter than its annotated ``duration`` is named in a
warning; in training, ground truth past the file's end is dropped or clipped to it and
counted, so no window teaches the model that padding is an action. The file's length
comes from the video probe (video input; also fills ``total_frames``) or from the
feature file's header, ``((T - 1) * feature_stride + frames_per_feature) / fps``
seconds, checked only when the annotation gives the fps (its field or a frame count;
with ``default_fps`` the features' rate is a guess).
"""
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.logging import MMLogger

from .video_files import SHOW, clip_segments


def _probe_num_frames(path: str, fps: Optional[float]) -> Optional[int]:
    """Frame count read from the video file or frame folder, or None when the video
    reader module is not available. Imported lazily so a feature-only setup never
    loads a video decoder."""
    try:
        from losa_plugin.datasets.video_reader import probe_video
    except ImportError:
        return None
    return int(probe_video(path, fps=fps).num_frames)



class FileLengthChecks:
    """File-length checks of :class:`TALDataset` (uses its ``input_type``,
    ``feature_stride``, ``frames_per_feature``, ``feature_format``, ``check_files``,
    ``duration_check``, ``duration_tolerance``, ``clip_to_duration``,
    ``filter_empty_gt`` and the load-time ``_counts``)."""

    def _short_of_file(self, info: dict, video: dict, short: list) -> bool:
        """Check the file's length against the annotated duration; in training, drop or
        clip the ground truth past a short file's end. True when nothing is left."""
        if not (self.check_files and self.duration_check != 'off'):
            return False
        covered = self._file_seconds(info, video['fps'] is not None)
        if covered is None or covered >= (1 - self.duration_tolerance) * info['duration']:
            return False
        short.append((info['video_id'], info[f'{self.input_type}_path'], covered,
                      info['duration']))
        if not self.clip_to_duration:
            return False
        segments, labels, clipped, dropped = clip_segments(info['segments'],
                                                           info['labels'], covered)
        self._counts['short_clipped'] += clipped
        self._counts['short_dropped'] += dropped
        info['segments'], info['labels'] = segments, labels
        if self.filter_empty_gt and len(segments) == 0:
            self._counts['empty'] += 1
            return True
        return False

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
                          for v, p, c, d in short[:SHOW])
        msg = (f'{self.ann_file} [{self.subset}]: {len(short)} files are shorter than '
               f'their annotated duration by more than {self.duration_tolerance:.0%}: '
               f'{shown}')
        if self.duration_check == 'error':
            raise ValueError(msg + " (duration_check='warn' to go on)")
        if self.clip_to_duration:
            c = self._counts
            msg += (f"; their ground truth past the file's end is not trained on: "
                    f"{c['short_dropped']} segments dropped, {c['short_clipped']} clipped "
                    'to the end')
        else:
            msg += '; ground truth past the end of a file cannot be detected'
        MMLogger.get_current_instance().warning(msg)

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
