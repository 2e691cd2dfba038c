"""Issue 16, point 3: checkpoints load strictly for evaluation and resume
(docs/robustness.md). tools/test.py used to evaluate a checkpoint of another model with
warnings, mostly random weights and exit 0."""
import copy
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmaction.registry import MODELS

from losa_plugin.engine import add_plugin_hooks, check_checkpoint_matches
from tests.fixtures.planted_features import tiny_feature_config, write_planted_features

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('strict')
    data = write_planted_features(str(tmp / 'data'), num_videos=4, length=48)
    cfg = Config(tiny_feature_config(data['ann_file'], data['feature_dir'], str(tmp / 'a'),
                                     max_epochs=1))
    cfg.update(test_dataloader=cfg.val_dataloader, test_evaluator=cfg.val_evaluator,
               test_cfg=dict(type='TestLoop'))
    add_plugin_hooks(cfg)
    Runner.from_cfg(cfg).train()
    return dict(tmp=tmp, data=data, cfg=cfg, ckpt=str(tmp / 'a' / 'epoch_1.pth'))


def _other_model(cfg, tmp, name):
    """The same config with a wider head (shape mismatches) and one level less
    (missing / unexpected keys): a checkpoint of another model."""
    other = copy.deepcopy(cfg)
    other.model.head.update(embed_dims=48, head_dims=48, arch=(1, 1, 1),
                            regress_ranges=((0, 4), (4, 10000)))
    other.work_dir = str(tmp / name)
    path = str(tmp / f'{name}.py')
    other.dump(path)
    return other, path


def _test_py(cfg_file, ckpt, work):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, 'tools/test.py', cfg_file, ckpt, '--work-dir', work],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow(cpu_s=20)
def test_tools_test_refuses_a_checkpoint_of_another_model(trained):
    tmp = trained['tmp']
    _, other_file = _other_model(trained['cfg'], tmp, 'other')
    proc = _test_py(other_file, trained['ckpt'], str(tmp / 'other_work'))
    assert proc.returncode != 0
    err = proc.stderr
    assert trained['ckpt'] in err and 'does not match the model' in err, err[-3000:]
    assert 'shape differs' in err and 'head.projection.embed.0.conv.weight (32, 16, 3) ' \
        '(model (48, 16, 3))' in err, err[-3000:]
    assert 'not in the model (28)' in err and 'head.projection.branch.1.norm1.weight' in err
    assert 'shape differs (71)' in err
    assert 'mAP' not in proc.stdout
    # the matching config evaluates it
    same = str(tmp / 'same.py')
    trained['cfg'].dump(same)
    proc = _test_py(same, trained['ckpt'], str(tmp / 'same_work'))
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_resume_refuses_a_checkpoint_of_another_model(trained):
    other, _ = _other_model(trained['cfg'], trained['tmp'], 'other_resume')
    other.resume, other.load_from = True, trained['ckpt']
    other.train_cfg.max_epochs = 2
    with pytest.raises(ValueError, match='shape differs'):
        Runner.from_cfg(other).train()


def test_non_finite_checkpoint_is_refused(trained):
    ckpt = torch.load(trained['ckpt'], map_location='cpu')
    ckpt['state_dict']['head.cls_head.out_conv.conv.bias'][0] = float('nan')
    bad = str(trained['tmp'] / 'nan.pth')
    torch.save(ckpt, bad)
    cfg = copy.deepcopy(trained['cfg'])
    cfg.load_from, cfg.work_dir = bad, str(trained['tmp'] / 'nan_work')
    with pytest.raises(ValueError, match=r'NaN / inf values \(1\): '
                                         r'head.cls_head.out_conv.conv.bias'):
        Runner.from_cfg(cfg).test()


def test_partial_loading_stays_possible_on_request(trained):
    other, _ = _other_model(trained['cfg'], trained['tmp'], 'other_partial')
    other.load_from = trained['ckpt']
    other.default_hooks.trainable_checkpoint.strict_load = False
    Runner.from_cfg(other).test()  # mmengine's warnings, no error


# -------------------------------------------- the frozen backbone: the one exception
@pytest.fixture(scope='module')
def frozen(tmp_path_factory):
    from losa_plugin.synthetic import SyntheticConfig, generate_untrimmed
    from tests.test_trainable_checkpoint import _write_backbone
    from tests.test_video_end_to_end import tiny_video_config
    tmp = tmp_path_factory.mktemp('frozen')
    syn = SyntheticConfig(height=32, width=32, fps=8.0, video_duration=(6, 8))
    ann = generate_untrimmed(str(tmp / 'data'), num_videos=2, seed=5, cfg=syn)
    base = tiny_video_config(ann, osp.join(osp.dirname(ann), 'videos'), str(tmp / 'work'))
    pretrained = str(tmp / 'vit.pth')
    weights = _write_backbone(base, pretrained, seed=3)
    base['model']['backbone']['pretrained'] = pretrained
    base['model']['backbone']['frozen'] = True
    return base['model'], weights


def _build(model_cfg):
    init_default_scope('mmaction')
    return MODELS.build(copy.deepcopy(model_cfg))


def test_checkpoint_without_the_frozen_backbone_takes_it_from_its_file(frozen):
    model_cfg, weights = frozen
    trained = _build(model_cfg)
    trained.init_weights()
    state = {k: v.clone() for k, v in trained.state_dict().items()
             if not k.startswith('backbone.backbone.')}
    # a fresh model, as tools/test.py builds it (no init_weights): the backbone comes
    # from the pretrained file and the checkpoint is completed with it
    fresh = _build(model_cfg)
    ckpt = dict(state_dict=dict(state))
    check_checkpoint_matches(fresh, ckpt, 'ckpt.pth')
    for k, v in weights.items():
        assert torch.equal(ckpt['state_dict']['backbone.backbone.' + k], v), k
    # one backbone key missing is not that case: an error naming it
    partial = dict(state)
    partial.update({k: v for k, v in trained.state_dict().items()
                    if k.startswith('backbone.backbone.')})
    dropped = 'backbone.backbone.blocks.0.attn.proj.weight'
    assert dropped in partial
    del partial[dropped]
    with pytest.raises(ValueError, match=r'missing from the checkpoint \(1\): ' + dropped):
        check_checkpoint_matches(_build(model_cfg), dict(state_dict=partial), 'ckpt.pth')
    # and a trained key missing is an error even when the backbone is complete
    del state[next(k for k in state if k.startswith('head.'))]
    with pytest.raises(ValueError, match='missing from the checkpoint'):
        check_checkpoint_matches(_build(model_cfg), dict(state_dict=state), 'ckpt.pth')
