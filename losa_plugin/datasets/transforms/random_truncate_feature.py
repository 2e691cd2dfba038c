"""Random training windows over pre-extracted features (ActionFormer's truncate_feats)."""
from typing import Optional, Sequence

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from losa_plugin.utils.time_grid import grid_to_seconds, seconds_to_grid
from .load_tal_feature import set_feature_window
from .window_sampling import sample_train_window, truncate_segments


@TRANSFORMS.register_module()
class RandomTruncateFeature(BaseTransform):
    """Crop ``results['feat']`` [C, T] to a random window of at most ``max_seq_len``
    steps keeping some ground truth (see :func:`sample_train_window`). For training.

    When the window is a crop (``T > max_seq_len``, or a ``crop_ratio`` crop of a
    sequence that fits), the ground truth follows ActionFormer's ``truncate_feats``
    (:func:`truncate_segments`): a segment stays only when at least ``trunc_thresh`` of
    it lies inside the window widened by ``offset = 0.5 * frames_per_feature /
    feature_stride`` steps each side (a feature sees that far beyond its grid
    position; 2 steps for THUMOS-14 I3D), clipped to that widened window; its label
    follows. Without a crop the ground truth is left as it is (not clipped either), as
    ActionFormer does. ``gt_clip_range`` tells :class:`PackTALInputs` to clip to the
    same range rather than to the window.

    Required keys: ``feat``, ``segments`` (seconds), ``labels``, ``fps``,
    ``feature_stride``, ``frames_per_feature``, ``window_start_step`` (set by
    :class:`LoadTALFeature`). Updated keys: ``feat`` [C, T'] with ``T' <= max_seq_len``,
    ``segments``, ``labels``, ``window_start_step``, ``window_start``,
    ``window_offset``, ``valid_len``; added ``gt_clip_range`` (window grid units).

    Args:
        max_seq_len (int): longest window in steps.
        trunc_thresh (float): kept fraction of a segment (and one segment must pass
            for a start to be accepted). Default 0.5.
        crop_ratio (Sequence[float] | None): (lo, hi) random crop of sequences that
            already fit. Default None.
        max_tries (int): random starts tried. Default 200.
    """

    def __init__(self, max_seq_len: int, trunc_thresh: float = 0.5,
                 crop_ratio: Optional[Sequence[float]] = None, max_tries: int = 200) -> None:
        self.max_seq_len = int(max_seq_len)
        self.trunc_thresh = trunc_thresh
        self.crop_ratio = None if crop_ratio is None else tuple(crop_ratio)
        self.max_tries = max_tries

    def transform(self, results: dict) -> dict:
        feat = results['feat']
        stride, fps = float(results['feature_stride']), float(results['fps'])
        offset_frames = float(results['window_offset'])
        seconds = np.asarray(results['segments'], dtype=np.float64).reshape(-1, 2)
        segments = seconds_to_grid(seconds, stride, offset_frames, fps)
        widen = 0.5 * float(results['frames_per_feature']) / stride
        # Seeded from numpy's global state, which mmengine seeds per worker.
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        start, length = sample_train_window(feat.shape[1], self.max_seq_len, segments, rng,
                                            self.trunc_thresh, self.crop_ratio,
                                            self.max_tries, offset=widen)
        if length < feat.shape[1]:
            keep, clipped = truncate_segments(segments, start, length, self.trunc_thresh,
                                              widen)
            results['segments'] = grid_to_seconds(clipped, stride, offset_frames, fps)
            if 'labels' in results:
                results['labels'] = np.asarray(results['labels']).reshape(-1)[keep]
            results['gt_clip_range'] = (-widen, length + widen)
        else:
            results['gt_clip_range'] = (-np.inf, np.inf)
        results['feat'] = feat[:, start:start + length]
        return set_feature_window(results, results['window_start_step'] + start)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(max_seq_len={self.max_seq_len}, '
                f'trunc_thresh={self.trunc_thresh}, crop_ratio={self.crop_ratio})')
