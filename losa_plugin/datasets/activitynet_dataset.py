"""ActivityNet-v1.3 defaults over :class:`TALDataset`."""
from typing import Optional, Sequence, Union

from mmaction.registry import DATASETS

from .tal_dataset import TALDataset


@DATASETS.register_module()
class ActivityNetTALDataset(TALDataset):
    """ActivityNet-v1.3: train on ``'training'``, test on ``'validation'``.

    Registered as 'ActivityNetTALDataset' because MMAction2 already registers
    'ActivityNetDataset' (its BMN proposal dataset).

    The class list comes from ``class_names`` (a list or a text file, one name a line,
    e.g. ``anet13_classes.txt``) or else the sorted label names of the file (200).
    The official file has no ``fps``: pass ``default_fps`` for feature input (with
    features resized to a fixed length, see :class:`ResizeTALFeature`, the value cancels
    out of the seconds mapping). Some entries have ``duration=None``; they are kept but
    cannot be clipped. ``class_agnostic=True`` trains a one-class detector for the
    ActionFormer / OpenTAD protocol with external video-level class scores
    (``TALMetric(ext_score_file=...)``, docs/evaluation.md).

    Args:
        ann_file (str): the ActivityNet ``database`` JSON.
        subset (str | Sequence[str] | None): None picks ``'validation'`` in test mode
            and ``'training'`` otherwise. Default None.
        feature_stride (float): frames between features. Default 16.
        frames_per_feature (float): frames per feature. Default 16.
        **kwargs: see :class:`TALDataset`.
    """

    def __init__(self, ann_file: str,
                 subset: Optional[Union[str, Sequence[str]]] = None,
                 feature_stride: float = 16, frames_per_feature: float = 16,
                 **kwargs) -> None:
        if subset is None:
            subset = 'validation' if kwargs.get('test_mode', False) else 'training'
        super().__init__(ann_file=ann_file, subset=subset, feature_stride=feature_stride,
                         frames_per_feature=frames_per_feature, **kwargs)
