"""Packing one window into ``dict(inputs, data_samples)`` (docs/contracts.md)."""
from typing import Sequence

import numpy as np
import torch
from einops import rearrange
from mmaction.registry import TRANSFORMS
from mmaction.structures import ActionDataSample
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from losa_plugin.utils.time_grid import grid_to_seconds, seconds_to_grid

_META_KEYS = ('video_id', 'fps', 'duration', 'window_offset', 'feature_stride',
              'valid_len', 'window_start')


@TRANSFORMS.register_module()
class PackTALInputs(BaseTransform):
    """Build ``dict(inputs=Tensor, data_samples=ActionDataSample)``.

    ``inputs``: ``results['feat']`` [C, T] as float32, or ``results['imgs']`` (a list of
    F frames H x W x 3, or an array [F, H, W, 3]) as [3, F, H, W], dtype kept (uint8
    stays uint8; normalisation is the data preprocessor's).

    ``data_samples.metainfo``: ``meta_keys`` (``duration`` may be None; the others are
    required). ``data_samples.gt_instances``: the segments of ``results['segments']``
    (seconds) that overlap the window, as ``segments`` [N, 2] float32 grid units
    (:func:`seconds_to_grid`) clipped to ``[0, grid_len]`` (or to
    ``results['gt_clip_range']`` when a truncation transform set one), ``segments_sec`` [N, 2]
    float32 (the same clipped segments in seconds) and ``labels`` [N] int64.

    The window's grid length ``grid_len`` is ``results['grid_len']`` when a transform
    set it; else ``valid_len`` for features, and for frames
    ``valid_len * results.get('frame_interval', 1) / feature_stride`` (frames sampled
    every ``frame_interval`` video frames, one grid cell per ``feature_stride`` frames).

    Args:
        meta_keys (Sequence[str]): keys copied to the metainfo. Default
            ('video_id', 'fps', 'duration', 'window_offset', 'feature_stride',
            'valid_len', 'window_start').
        extra_meta_keys (Sequence[str]): further keys copied when present (e.g.
            'window_start_step', 'sample_idx'). Default ('window_start_step',
            'sample_idx').
    """

    def __init__(self, meta_keys: Sequence[str] = _META_KEYS,
                 extra_meta_keys: Sequence[str] = ('window_start_step', 'sample_idx')) -> None:
        self.meta_keys = tuple(meta_keys)
        self.extra_meta_keys = tuple(extra_meta_keys)

    def _inputs(self, results: dict) -> torch.Tensor:
        vid = results.get('video_id', '?')
        if 'feat' in results:
            feat = results['feat']
            if feat.ndim != 2:
                raise ValueError(f"video '{vid}': 'feat' must be [C, T], got {tuple(feat.shape)}")
            return torch.as_tensor(np.ascontiguousarray(feat), dtype=torch.float32)
        if 'imgs' in results:
            imgs = results['imgs']
            frames = np.stack(imgs) if isinstance(imgs, (list, tuple)) else np.asarray(imgs)
            if frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(f"video '{vid}': 'imgs' must be F frames of H x W x 3, got "
                                 f'shape {frames.shape}')
            return torch.from_numpy(
                np.ascontiguousarray(rearrange(frames, 'f h w c -> c f h w')))
        raise KeyError(f"video '{vid}': PackTALInputs needs 'feat' (features) or 'imgs' "
                       f'(frames); got keys {sorted(results)}')

    @staticmethod
    def _grid_len(results: dict) -> float:
        if results.get('grid_len') is not None:
            return float(results['grid_len'])
        if 'feat' in results:
            return float(results['valid_len'])
        return (float(results['valid_len']) * float(results.get('frame_interval', 1))
                / float(results['feature_stride']))

    def transform(self, results: dict) -> dict:
        vid = results.get('video_id', '?')
        inputs = self._inputs(results)
        metainfo = {}
        for key in self.meta_keys:
            if key not in results and key != 'duration':
                raise KeyError(f"video '{vid}': PackTALInputs needs '{key}' in the results "
                               '(set by the loading / window transforms)')
            metainfo[key] = results.get(key)
        for key in self.extra_meta_keys:
            if key in results:
                metainfo[key] = results[key]

        stride, offset, fps = (float(results['feature_stride']),
                               float(results['window_offset']), float(results['fps']))
        seconds = np.asarray(results.get('segments', np.zeros((0, 2))),
                             dtype=np.float64).reshape(-1, 2)
        labels = np.asarray(results.get('labels', np.zeros(0)), dtype=np.int64).reshape(-1)
        grid = seconds_to_grid(seconds, stride, offset, fps)
        grid_len = self._grid_len(results)
        # A truncation transform may set its own range (ActionFormer's widened crop).
        lo, hi = results.get('gt_clip_range', (0.0, grid_len))
        # Overlapping the range, or a zero-length segment inside it.
        keep = ((grid[:, 1] > lo) & (grid[:, 0] < hi)) | \
               ((grid[:, 0] >= lo) & (grid[:, 1] <= hi))
        grid = grid[keep].clip(lo, hi)

        data_sample = ActionDataSample(metainfo=metainfo)
        data_sample.gt_instances = InstanceData(
            segments=torch.as_tensor(grid, dtype=torch.float32).reshape(-1, 2),
            segments_sec=torch.as_tensor(grid_to_seconds(grid, stride, offset, fps),
                                         dtype=torch.float32).reshape(-1, 2),
            labels=torch.as_tensor(labels[keep], dtype=torch.int64))
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
