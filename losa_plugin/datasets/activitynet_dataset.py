"""ActivityNet-v1.3 defaults over :class:`TALDataset`."""
from typing import Optional, Sequence, Union

from mmaction.registry import DATASETS

from .tal_dataset import TALDataset


@DATASETS.register_module()
class ActivityNetTALDataset(TALDataset):
    """ActivityNet-v1.3: train on ``'training'``, test on ``'validation'``.

    Registered as 'ActivityNetTALDataset' because MMAction2 already registers
    'ActivityNetDataset' (its BMN proposal dataset).

    The official ``activity_net.v1-3.min.json`` and MMAction2's
    ``anet_anno_{train,val}.json`` (no subsets: each file is one; ``v_`` removed from
    the ids) load as they are (docs/data.md). The class list comes from ``class_names``
    (a list or a text file, one name a line, relative to ``data_root``) or else the
    sorted label names of the file (200). The official file has no ``fps``: video input
    takes the file's own; pass ``default_fps`` for feature input (with features resized
    to a fixed length, see :class:`ResizeTALFeature`, the value cancels out of the
    seconds mapping). Entries with ``duration=None`` are kept but cannot be clipped.
    YouTube videos come as several extensions (``video_ext``) and some are missing
    (skipped and named, see :class:`TALDataset`). ``class_agnostic=True`` trains a one-class detector for the
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
