"""Trainable-only checkpoints and the trainable-only EMA (docs/checkpoints.md).

A tiny LoSA model on raw synthetic videos with a frozen ViT loaded from a ``pretrained``
file is trained for 2 iterations twice from the same seed: once writing trainable-only
checkpoints (the default), once full ones. Expected values come from the backbone file
itself (its tensors' bytes and an independent hash), not from the code under test.
"""
import copy
import hashlib
import os
import os.path as osp
import shutil
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import ExponentialMovingAverage
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch import nn

from losa_plugin.engine import (TrainableEMAHook, add_trainable_checkpoint_hook,
                                load_tal_checkpoint)
from losa_plugin.synthetic import SyntheticConfig, generate_untrimmed
from tests.test_video_end_to_end import tiny_video_config

PREFIX = 'backbone.backbone.'


def _hash(state):
    """Independent SHA-256 of a state dict: sorted keys, dtype, shape, bytes."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().contiguous()
        h.update(f'{k}|{t.dtype}|{tuple(t.shape)}|'.encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _write_backbone(cfg: dict, path: str, seed: int) -> dict:
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    vit = MODELS.build(dict(cfg['model']['backbone']['vit']))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in vit.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    state = {k: v.clone() for k, v in vit.state_dict().items()}
    torch.save({'state_dict': {'backbone.' + k: v for k, v in state.items()}}, path)
    return state


def _cfg(base: dict, work_dir: str, pretrained: str, name: str, trim: bool = True,
         max_iters: int = 2, frozen: bool = True) -> Config:
    cfg = Config(copy.deepcopy(base))
    cfg.work_dir = work_dir
    cfg.experiment_name = name
    cfg.model.backbone.pretrained = pretrained
    cfg.model.backbone.frozen = frozen
    cfg.train_cfg.max_iters = max_iters
    cfg.default_hooks.checkpoint.interval = 2
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False,
                                begin=0, end=4)]
    cfg.custom_hooks = [dict(type='TrainableEMAHook', momentum=0.2, update_buffers=True,
                             priority=49)]
    add_trainable_checkpoint_hook(cfg)
    cfg.default_hooks.trainable_checkpoint.save_trainable_only = trim
    return cfg


def _ema_hook(runner) -> TrainableEMAHook:
    return next(h for h in runner.hooks if isinstance(h, TrainableEMAHook))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('trainable_ckpt')
    syn = SyntheticConfig(height=32, width=32, fps=8.0, video_duration=(6, 8))
    ann = generate_untrimmed(str(tmp / 'data'), num_videos=4, seed=5, cfg=syn)
    base = tiny_video_config(ann, osp.join(osp.dirname(ann), 'videos'), str(tmp / 'work'))
    pretrained = str(tmp / 'vit.pth')
    backbone = _write_backbone(base, pretrained, seed=0)
    ckpts = {}
    for mode in ('trim', 'full'):
        cfg = _cfg(base, str(tmp / mode), pretrained, mode, trim=mode == 'trim')
        Runner.from_cfg(cfg).train()
        ckpts[mode] = str(tmp / mode / 'iter_2.pth')
    return SimpleNamespace(tmp=tmp, base=base, pretrained=pretrained, backbone=backbone,
                           ckpts=ckpts)


def test_trainable_only_checkpoint_is_smaller_by_the_backbone(trained):
    trim = torch.load(trained.ckpts['trim'], map_location='cpu')
    full = torch.load(trained.ckpts['full'], map_location='cpu')
    bb = trained.backbone
    # no backbone weight anywhere in the trainable-only checkpoint
    assert not [k for k in trim['state_dict'] if k.startswith(PREFIX)]
    assert not [k for k in trim['ema_state_dict'] if k.startswith('module.' + PREFIX)]
    record = trim['meta']['trainable_only']
    assert record['pretrained'] == trained.pretrained
    assert record['sha256'] == _hash(bb)
    assert record['num_tensors'] == len(bb)
    assert record['num_elements'] == sum(v.numel() for v in bb.values())
    # the full one holds exactly the backbone file's weights
    for k, v in bb.items():
        assert torch.equal(full['state_dict'][PREFIX + k], v), k
    assert 'trainable_only' not in full['meta']
    assert set(full['state_dict']) - set(trim['state_dict']) == {PREFIX + k for k in bb}
    # everything else (trainable weights, EMA, optimizer) is the same
    for k, v in trim['state_dict'].items():
        assert torch.equal(v, full['state_dict'][k]), k
    assert trim['ema_state_dict'].keys() == full['ema_state_dict'].keys()
    trainable = sum(v.numel() for k, v in trim['state_dict'].items()
                    if k.startswith(('neck.', 'head.')) and v.is_floating_point())
    moments = sum(t.numel() for s in trim['optimizer']['state'].values()
                  for name, t in s.items() if name in ('exp_avg', 'exp_avg_sq'))
    assert moments <= 2 * trainable  # AdamW keeps no moments for frozen weights
    # sizes on disk: the difference is the backbone's bytes plus per-tensor archive
    # records (zip headers, 64-byte alignment, pickled key), a few hundred bytes each
    backbone_bytes = sum(v.numel() * v.element_size() for v in bb.values())
    diff = osp.getsize(trained.ckpts['full']) - osp.getsize(trained.ckpts['trim'])
    assert backbone_bytes <= diff <= backbone_bytes + 512 * len(bb), (diff, backbone_bytes)


def _resume(trained, ckpt: str, name: str, pretrained: str, max_iters: int = 3) -> Runner:
    cfg = _cfg(trained.base, str(trained.tmp / name), pretrained, name, max_iters=max_iters)
    cfg.resume, cfg.load_from = True, ckpt
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_trainable_only_resume_equals_full_resume(trained):
    # the config now names another backbone file: resuming must re-attach the one the
    # checkpoint was trained with (verified by its hash), as a full checkpoint would
    other = str(trained.tmp / 'other_vit.pth')
    _write_backbone(trained.base, other, seed=1)
    a = _resume(trained, trained.ckpts['trim'], 'resume_trim', other)
    b = _resume(trained, trained.ckpts['full'], 'resume_full', other)
    assert a.iter == b.iter == 3
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    for k, v in trained.backbone.items():
        assert torch.equal(sa[PREFIX + k], v), k
    ea, eb = _ema_hook(a).ema_model.state_dict(), _ema_hook(b).ema_model.state_dict()
    assert ea.keys() == eb.keys() and all(torch.equal(ea[k], eb[k]) for k in ea)
    oa, ob = a.optim_wrapper.state_dict()['state'], b.optim_wrapper.state_dict()['state']
    assert oa.keys() == ob.keys()
    for i in oa:
        for name in oa[i]:
            assert torch.equal(torch.as_tensor(oa[i][name]), torch.as_tensor(ob[i][name]))
    assert [s.state_dict() for s in a.param_schedulers] == \
        [s.state_dict() for s in b.param_schedulers]


def test_changed_backbone_file_is_refused(trained):
    changed = str(trained.tmp / 'changed_vit.pth')
    shutil.copy(trained.pretrained, changed)
    ckpt = torch.load(trained.ckpts['trim'], map_location='cpu')
    ckpt['meta']['trainable_only'].update(pretrained=changed,
                                          pretrained_abspath=osp.abspath(changed))
    moved = str(trained.tmp / 'moved.pth')
    torch.save(ckpt, moved)

    init_default_scope('mmaction')
    from mmaction.registry import MODELS
    model = MODELS.build(copy.deepcopy(trained.base['model']))
    load_tal_checkpoint(model, moved)  # an identical copy is accepted
    state = model.state_dict()
    assert all(torch.equal(state[PREFIX + k], v) for k, v in trained.backbone.items())

    bad = torch.load(changed)
    bad['state_dict']['backbone.blocks.0.mlp.layers.0.0.weight'][0, 0] += 1e-3
    torch.save(bad, changed)
    with pytest.raises(ValueError, match='changed since training') as err:
        load_tal_checkpoint(MODELS.build(copy.deepcopy(trained.base['model'])), moved)
    assert moved in str(err.value) and changed in str(err.value)
    # the same through the Runner's resume path, the config naming the changed file
    with pytest.raises(ValueError, match='changed since training') as err:
        _resume(trained, moved, 'resume_changed', changed)
    assert moved in str(err.value) and changed in str(err.value)

    os.remove(changed)
    cfg_model = copy.deepcopy(trained.base['model'])
    cfg_model['backbone']['pretrained'] = str(trained.tmp / 'nowhere.pth')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_tal_checkpoint(MODELS.build(cfg_model), moved)


class _Toy(nn.Module):
    """A frozen 'backbone' (weights + a buffer) under a trainable head with a BN."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6))
        self.backbone.requires_grad_(False)
        self.head = nn.Sequential(nn.Linear(6, 3), nn.BatchNorm1d(3))


def test_ema_holds_no_backbone_and_matches_mmengine_on_the_rest():
    torch.manual_seed(0)
    model = _Toy()
    reference = ExponentialMovingAverage(copy.deepcopy(model), momentum=0.3,
                                         update_buffers=True)
    hook = TrainableEMAHook(momentum=0.3, update_buffers=True)
    runner = SimpleNamespace(model=model, iter=0, logger=MMLogger.get_current_instance())
    hook.before_run(runner)
    ema = hook.ema_model.state_dict()
    assert not [k for k in ema if k.startswith('module.backbone')]
    trainable = {k for k in model.state_dict() if k.startswith('head.')}
    assert {k[len('module.'):] for k in ema if k != 'steps'} == trainable
    backbone_before = copy.deepcopy(model.backbone.state_dict())
    for step in range(4):
        with torch.no_grad():
            for p in model.head.parameters():
                p.add_(torch.randn_like(p))
            model.head[1].running_mean.add_(1.0)
        runner.iter = step
        hook.after_train_iter(runner, step)
        reference.update_parameters(model)
    ref = reference.state_dict()
    for k in trainable:
        assert torch.equal(hook.ema_model.state_dict()['module.' + k], ref['module.' + k]), k
    # swapping the averages in (validation / test) touches the head only
    raw = copy.deepcopy(model.state_dict())
    hook._swap_ema_parameters()
    swapped = model.state_dict()
    for k in trainable:
        if swapped[k].is_floating_point():
            assert torch.equal(swapped[k], ref['module.' + k]), k
    for k, v in backbone_before.items():
        assert torch.equal(swapped['backbone.' + k], v), k
    hook._swap_ema_parameters()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in raw.items())


def test_ema_of_full_fine_tuning_averages_the_backbone():
    model = _Toy()
    model.backbone.requires_grad_(True)
    hook = TrainableEMAHook(momentum=0.3)
    hook.before_run(SimpleNamespace(model=model, logger=MMLogger.get_current_instance()))
    assert 'module.backbone.0.weight' in hook.ema_model.state_dict()
