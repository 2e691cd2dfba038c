"""Reading one video's pre-extracted features."""
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform


def set_feature_window(results: dict, start_step: float) -> dict:
    """Set the window fields for ``results['feat']`` [C, T] starting ``start_step``
    feature steps into the video (the one place they are derived from each other).

    Sets ``window_start_step`` (steps), ``window_start`` (int, frames),
    ``window_offset`` (float frames of grid cell 0:
    ``start_step * feature_stride + 0.5 * frames_per_feature``) and ``valid_len`` (T).
    """
    stride = float(results['feature_stride'])
    results['window_start_step'] = start_step
    results['window_start'] = int(round(start_step * stride))
    results['window_offset'] = start_step * stride + 0.5 * float(results['frames_per_feature'])
    results['valid_len'] = int(results['feat'].shape[1])
    return results


@TRANSFORMS.register_module()
class LoadTALFeature(BaseTransform):
    """Load ``results['feature_path']`` (a 2-D ``.npy``) into ``results['feat']`` [C, T].

    Required keys: ``feature_path``, ``feature_stride``, ``frames_per_feature``;
    optional ``window_start`` / ``window_len`` (feature steps, set by the dataset for
    test windows): the features are sliced to that window.

    A file holding NaN / inf values is refused (``ValueError`` naming the video, the
    file, the count and the first time step), in training and in testing alike.

    Added / updated keys: ``feat`` [C, T] (``dtype``), ``window_start_step``,
    ``window_start`` (frames), ``window_offset`` (frames), ``valid_len`` (T),
    ``feature_stride``.

    Args:
        format (str): layout of the stored array, ``'TC'`` (time first, as the
            ActionFormer packs) or ``'CT'``. Default 'TC'.
        dtype (str): output dtype. Default 'float32'.
    """

    def __init__(self, format: str = 'TC', dtype: str = 'float32') -> None:
        if format not in ('TC', 'CT'):
            raise ValueError(f"format must be 'TC' or 'CT', got {format!r}")
        self.format = format
        self.dtype = np.dtype(dtype)

    def transform(self, results: dict) -> dict:
        path = results['feature_path']
        vid = results.get('video_id', '?')
        try:
            feat = np.load(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"video '{vid}': feature file not found: {path}") from None
        except (OSError, ValueError) as e:
            raise ValueError(f"video '{vid}': cannot read feature file {path} ({e})") from None
        if feat.ndim != 2:
            raise ValueError(f"video '{vid}': feature file {path} has shape {feat.shape}, "
                             f'expected 2-D {self.format}')
        if not np.issubdtype(feat.dtype, np.number):
            raise ValueError(f"video '{vid}': feature file {path} holds {feat.dtype}, "
                             'expected numbers')
        finite = np.isfinite(feat)
        if not finite.all():
            bad = np.argwhere(~finite)
            step = bad[0][0] if self.format == 'TC' else bad[0][1]
            raise ValueError(
                f"video '{vid}': feature file {path} holds {len(bad)} non-finite values "
                f'(NaN / inf), the first at time step {step}; re-extract the features of '
                'this video (a NaN input makes the loss, then every weight, NaN)')
        if self.format == 'TC':
            feat = feat.T
        feat = np.ascontiguousarray(feat, dtype=self.dtype)
        start = 0
        if results.get('window_len') is not None:
            start = int(results.get('window_start', 0))
            feat = feat[:, start:start + int(results['window_len'])]
            if feat.shape[1] == 0:
                raise ValueError(f"video '{vid}': window [{start}, +{results['window_len']}) "
                                 f'is outside the {feat.shape} features of {path}')
        results['feat'] = feat
        results['feature_stride'] = float(results['feature_stride'])
        return set_feature_window(results, start)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(format={self.format!r}, dtype={self.dtype})'
