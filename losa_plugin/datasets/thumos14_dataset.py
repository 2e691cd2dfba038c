"""THUMOS-14 defaults over :class:`TALDataset`."""
from typing import Optional, Sequence, Union

from mmaction.registry import DATASETS

from .tal_dataset import TALDataset


@DATASETS.register_module()
class THUMOS14Dataset(TALDataset):
    """THUMOS-14: train on the ``'Validation'`` videos, test on ``'Test'``.

    ActionFormer's ``thumos14.json`` and OpenTAD's ``thumos_14_anno.json`` load as they
    are: OpenTAD's ``'training'`` / ``'validation'`` subsets answer to ``'Validation'`` /
    ``'Test'``, its fps comes from the frame counts, its ``Ambiguous`` segments are
    dropped (docs/data.md). Classes come in ``label_id`` order (ActionFormer's file; the
    same as OpenTAD's sorted names: 20 classes). Defaults follow ActionFormer's I3D
    feature pack: ``feature_stride=4``, ``frames_per_feature=16``, ``.npy`` files named
    by video id.

    Args:
        ann_file (str): the THUMOS-14 ``database`` JSON.
        subset (str | Sequence[str] | None): None picks ``'Test'`` in test mode and
            ``'Validation'`` otherwise. Default None.
        **kwargs: see :class:`TALDataset`.
    """

    def __init__(self, ann_file: str,
                 subset: Optional[Union[str, Sequence[str]]] = None,
                 feature_stride: float = 4, frames_per_feature: float = 16,
                 **kwargs) -> None:
        if subset is None:
            subset = 'Test' if kwargs.get('test_mode', False) else 'Validation'
        super().__init__(ann_file=ann_file, subset=subset, feature_stride=feature_stride,
                         frames_per_feature=frames_per_feature, **kwargs)
