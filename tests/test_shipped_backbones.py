"""Shipped pretrained backbones of the synthetic benchmark: found only for exactly their
pretraining, loaded as the pretraining left them."""
import os.path as osp
from dataclasses import replace

import pytest
import torch

from losa_plugin.synthetic import benchmark_steps as steps
from losa_plugin.synthetic.benchmark import FULL
from losa_plugin.synthetic.pretrain_step import plan_pretraining
from losa_plugin.synthetic.regimes import DEFAULT_REGIMES, REGIMES
from losa_plugin.synthetic.shipped_backbones import (SHIPPED_DIR, compare_with_shipped,
                                                     export_backbone, key_fields,
                                                     pretrain_key, shipped_meta)


def _spec(regime, out_dir, settings=FULL):
    tag = f'{settings.name}-s{settings.data_seed}'
    clips = steps.trimmed_dir(osp.join(out_dir, 'data', tag), regime)
    data = steps.data_paths(osp.join(out_dir, 'data', tag, regime.name, 'untrimmed'), clips,
                            len(regime.tal_cfg().label_names))
    data['num_classes'] = len(regime.pretrain_cfg().label_names)
    return steps.pretrain_spec(regime, data, osp.join(out_dir, 'pretrain', tag, regime.name),
                               settings.pretrain_epochs, settings.pretrain_hold,
                               settings.pretrain_decay, settings.data_seed, settings.threads)


def _key(regime, out_dir='work_dirs/a', settings=FULL):
    return pretrain_key(key_fields(regime, _spec(regime, out_dir, settings),
                                   settings.num_per_class, settings.data_seed))


def test_key_ignores_paths_and_follows_what_decides_the_weights():
    aligned = REGIMES['aligned']
    base = _key(aligned)
    assert _key(aligned, out_dir='/elsewhere/b') == base  # output folder: same weights
    assert _key(REGIMES['transfer']) != base  # another backbone
    for change in (dict(pretrain_hold=5), dict(data_seed=1), dict(num_per_class=299),
                   dict(pretrain_epochs=59)):
        assert _key(aligned, settings=replace(FULL, **change)) != base, change


def _fake_pretraining_checkpoint(regime, path, seed=0):
    from mmengine.config import Config
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    import losa_plugin  # noqa: F401
    init_default_scope('mmaction')
    cfg = Config.fromfile(steps.PRETRAIN_CONFIG)
    cfg.merge_from_dict(regime.pretrain_model_overrides())
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    state = model.state_dict()
    torch.save(dict(state_dict=state, meta=dict(epoch=3),
                    optimizer=dict(state={}, param_groups=[])), path)
    return state


def test_export_load_and_compare(tmp_path):
    regime = REGIMES['transfer']
    ckpt = str(tmp_path / 'epoch_3.pth')
    state = _fake_pretraining_checkpoint(regime, ckpt)
    spec = _spec(regime, str(tmp_path))
    fields = key_fields(regime, spec, FULL.num_per_class, 0)
    root = str(tmp_path / 'shipped')
    plan = plan_pretraining(regime, spec, FULL.num_per_class, 0, shipped_root=root)
    assert plan.train and plan.shipped is None  # nothing shipped yet: pretrain
    path = export_backbone(ckpt, fields, dict(val_top1=[0.2, 0.6, 0.8], checkpoint=ckpt), root)
    assert osp.basename(path) == f'transfer-{pretrain_key(fields)}.pth'
    plan = plan_pretraining(regime, spec, FULL.num_per_class, 0, shipped_root=root)
    assert plan.shipped == path and not plan.train
    assert plan_pretraining(regime, spec, FULL.num_per_class, 0, force=True,
                            shipped_root=root).train
    meta = shipped_meta(path)
    assert meta['pretrain'] == dict(val_top1=[0.2, 0.6, 0.8]) and meta['key_fields'] == fields
    shipped = torch.load(path, map_location='cpu', weights_only=True)['state_dict']
    assert set(shipped) == {k for k in state if k.startswith('backbone.')}  # no head, no optimizer
    assert all(torch.equal(shipped[k], state[k]) for k in shipped)
    assert compare_with_shipped(ckpt, path) == dict(equal=True, max_abs_diff=0.0, shipped=path)
    _fake_pretraining_checkpoint(regime, ckpt, seed=1)
    other = compare_with_shipped(ckpt, path)
    assert not other['equal'] and other['max_abs_diff'] > 0.01


@pytest.mark.parametrize('name', DEFAULT_REGIMES)
def test_repository_ships_the_default_pretraining_of_each_regime(name):
    # A change to the pretraining (config, schedule, clips, backbone) changes the key and
    # the main job would pretrain again (17 min more): this fails until the backbones are
    # shipped anew (tools/synthetic_benchmark.py --ship-backbones) or the change undone.
    regime = REGIMES[name]
    spec = _spec(regime, 'work_dirs/synthetic_benchmark')
    plan = plan_pretraining(regime, spec, FULL.num_per_class, FULL.data_seed)
    assert plan.shipped is not None, (
        f'no backbone in {SHIPPED_DIR} for key {plan.key} of the {name} pretraining')
    meta = shipped_meta(plan.shipped)
    assert meta['key_fields'] == plan.fields
    curve = meta['pretrain']['val_top1']
    assert max(curve[-3:]) - min(curve[-3:]) < 0.03  # ended on a plateau
    # it loads into the regime's TAL backbone with every weight present
    from mmaction.registry import MODELS
    import losa_plugin  # noqa: F401
    backbone = MODELS.build(dict(type='LayerTapViT', vit=regime.vit(), clip_len=16,
                                 pretrained=plan.shipped))
    backbone.init_weights()
    shipped = torch.load(plan.shipped, map_location='cpu', weights_only=True)['state_dict']
    for k, v in backbone.backbone.state_dict().items():
        assert torch.equal(v, shipped['backbone.' + k]), k
