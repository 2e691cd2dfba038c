"""Random training windows over pre-extracted features."""
from typing import Optional, Sequence

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from losa_plugin.utils.time_grid import seconds_to_grid
from .load_tal_feature import set_feature_window
from .window_sampling import sample_train_window


@TRANSFORMS.register_module()
class RandomTruncateFeature(BaseTransform):
    """Crop ``results['feat']`` [C, T] to a random window of at most ``max_seq_len``
    steps keeping some ground truth (see :func:`sample_train_window`). For training.

    Required keys: ``feat``, ``segments`` (seconds), ``fps``, ``feature_stride``,
    ``frames_per_feature``, ``window_start_step`` (set by :class:`LoadTALFeature`).
    Updated keys: ``feat`` [C, T'] with ``T' <= max_seq_len``, ``window_start_step``,
    ``window_start``, ``window_offset``, ``valid_len``. Segments stay in seconds;
    :class:`PackTALInputs` keeps those overlapping the window.

    Args:
        max_seq_len (int): longest window in steps.
        trunc_thresh (float): a window must keep this fraction of one segment.
            Default 0.5.
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
        segments = seconds_to_grid(np.asarray(results['segments'], dtype=np.float64),
                                   results['feature_stride'], results['window_offset'],
                                   results['fps'])
        # Seeded from numpy's global state, which mmengine seeds per worker.
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        start, length = sample_train_window(feat.shape[1], self.max_seq_len, segments, rng,
                                            self.trunc_thresh, self.crop_ratio,
                                            self.max_tries)
        results['feat'] = feat[:, start:start + length]
        return set_feature_window(results, results['window_start_step'] + start)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(max_seq_len={self.max_seq_len}, '
                f'trunc_thresh={self.trunc_thresh}, crop_ratio={self.crop_ratio})')
