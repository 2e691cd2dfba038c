"""The one mapping between seconds and the temporal grid of a window.

Convention (used by datasets, transforms, the detector and the metric):

    seconds = (index * feature_stride + window_offset) / fps
    index   = (seconds * fps - window_offset) / feature_stride

* ``index`` is a (fractional) position on the head's input grid; grid cell ``i``
  is centred at ``index == i``.
* ``feature_stride`` is the number of video frames between consecutive grid cells
  (for a ViT with tubelet 2 sampled at frame interval ``s``: ``2 * s``; for
  pre-extracted features: the extraction stride).
* ``window_offset`` is the frame position (may be fractional) of grid cell 0:
  the window's first frame plus the centre of one cell, conventionally
  ``window_start + 0.5 * frames_per_cell`` (as ActionFormer does for features
  covering ``frames_per_cell`` frames). Everything downstream only applies the
  formula above, so datasets decide the offset in one place.
"""
from typing import Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor, float]


def grid_to_seconds(index: ArrayLike, feature_stride: float,
                    window_offset: float, fps: float) -> ArrayLike:
    """Map grid positions (any shape) to seconds."""
    return (index * feature_stride + window_offset) / fps


def seconds_to_grid(seconds: ArrayLike, feature_stride: float,
                    window_offset: float, fps: float) -> ArrayLike:
    """Map seconds (any shape) to grid positions."""
    return (seconds * fps - window_offset) / feature_stride
