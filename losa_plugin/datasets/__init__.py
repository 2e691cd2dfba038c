# Components are imported here so that importing losa_plugin registers them.
from . import transforms  # noqa: F401
from .activitynet_dataset import ActivityNetTALDataset
from .tal_annotation import load_tal_annotations
from .tal_dataset import TALDataset
from .thumos14_dataset import THUMOS14Dataset

__all__ = ['ActivityNetTALDataset', 'TALDataset', 'THUMOS14Dataset', 'load_tal_annotations']
