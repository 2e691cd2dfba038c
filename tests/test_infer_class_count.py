"""tools/infer.py's model loading requires a class list of exactly the head's size: a
shorter one leaves labels unnamed, a longer one names detections after the wrong
classes (it was accepted silently)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmaction.registry import MODELS

from losa_plugin.apis.inference import init_tal_detector
from tests.fixtures.planted_features import CLASSES, tiny_feature_config


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ckpt')
    cfg = Config(tiny_feature_config(str(tmp / 'none.json'), str(tmp), str(tmp)))
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)

    def write(classes):
        path = str(tmp / f'{len(classes)}.pth')
        torch.save(dict(state_dict=model.state_dict(),
                        meta=dict(dataset_meta=dict(classes=list(classes)))), path)
        return path
    return cfg, write


def test_exact_class_count_loads(saved):
    cfg, write = saved
    model = init_tal_detector(cfg, write(CLASSES))
    assert model.dataset_meta['classes'] == list(CLASSES)


@pytest.mark.parametrize('classes', [CLASSES[:-1], CLASSES + ('Extra', )],
                         ids=['shorter', 'longer'])
def test_other_class_counts_are_refused(saved, classes):
    cfg, write = saved
    with pytest.raises(ValueError, match=rf'the head predicts {len(CLASSES)} classes but '
                                         rf'the class list has {len(classes)}'):
        init_tal_detector(cfg, write(classes))
