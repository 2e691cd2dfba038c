"""Resizing pre-extracted features to a fixed number of steps (ActivityNet setting)."""
import numpy as np
import torch
import torch.nn.functional as F
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform


@TRANSFORMS.register_module()
class ResizeTALFeature(BaseTransform):
    """Linearly interpolate ``results['feat']`` [C, T] to [C, length].

    ActivityNet videos vary from seconds to minutes, so the feature setting resizes
    every video to a fixed grid (128 steps here) instead of cropping windows, and the
    grid then spans the whole video: ``feature_stride = duration * fps / length`` and
    ``window_offset = 0.5 * feature_stride`` (ActionFormer's convention; fps cancels
    out of the seconds). When ``duration`` is unknown the stride is rescaled from the
    stored one (``feature_stride * T / length``), matching linear interpolation with
    ``align_corners=False``.

    Required keys: ``feat``, ``feature_stride``, ``fps``, ``duration``,
    ``window_start_step`` (must be 0: whole videos). Updated keys: ``feat``,
    ``feature_stride``, ``frames_per_feature``, ``window_start``, ``window_offset``,
    ``valid_len``.

    Args:
        length (int): output steps. Default 128.
    """

    def __init__(self, length: int = 128) -> None:
        self.length = int(length)

    def transform(self, results: dict) -> dict:
        feat = results['feat']
        if results.get('window_start_step', 0) != 0:
            raise ValueError(f"video '{results.get('video_id', '?')}': ResizeTALFeature "
                             'expects whole videos (window_start_step 0), got '
                             f"{results['window_start_step']}")
        num = feat.shape[1]
        resized = F.interpolate(torch.from_numpy(np.ascontiguousarray(feat))[None],
                                size=self.length, mode='linear', align_corners=False)[0]
        results['feat'] = resized.numpy().astype(feat.dtype, copy=False)
        if results.get('duration') is not None:
            stride = float(results['duration']) * float(results['fps']) / self.length
            offset = 0.5 * stride
        else:
            old = float(results['feature_stride'])
            stride = old * num / self.length
            # cell j sits at old-grid position (j + 0.5) * num / length - 0.5
            offset = (0.5 * float(results['frames_per_feature'])
                      + old * (0.5 * num / self.length - 0.5))
        results['feature_stride'] = stride
        # a later RandomTruncateFeature recomputes the offset from frames_per_feature
        results['frames_per_feature'] = 2 * offset
        results['window_start'] = 0
        results['window_offset'] = offset
        results['valid_len'] = self.length
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(length={self.length})'
