"""tools/convert_actionformer.py on a checkpoint written in ActionFormer's layout by the
test itself (random weights; names and shapes from ActionFormer's module definitions,
``nn.DataParallel``'s ``module.`` prefix, ``state_dict`` / ``state_dict_ema`` /
``optimizer`` / ``scheduler`` / ``epoch`` as its train.py saves them)."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmaction.registry import MODELS

from tests.fixtures.planted_features import tiny_feature_config, write_planted_features

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
_spec = importlib.util.spec_from_file_location(
    'convert_actionformer', osp.join(ROOT, 'tools', 'convert_actionformer.py'))
convert = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(convert)

E, H, C_IN, N_CLS = 32, 32, 16, 3  # embed / head widths, input channels, classes
ARCH, LEVELS = (1, 1, 2), 3


def actionformer_layout():
    """(name, shape, is LayerNorm) of ActionFormer's LocPointTransformer with
    convTransformer backbone, identity FPN with LN, LN in embedding and heads,
    droppath > 0, for ARCH / E / H."""
    ln = lambda prefix, c: [(f'{prefix}.weight', (1, c, 1), True),  # noqa: E731
                            (f'{prefix}.bias', (1, c, 1), True)]
    keys = []
    for i in range(ARCH[0]):
        keys.append((f'backbone.embd.{i}.conv.weight', (E, C_IN if i == 0 else E, 3), False))
        keys += ln(f'backbone.embd_norm.{i}', E)
    blocks = [f'backbone.stem.{i}' for i in range(ARCH[1])] + \
        [f'backbone.branch.{i}' for i in range(ARCH[2])]
    for b in blocks:
        keys += ln(f'{b}.ln1', E) + ln(f'{b}.ln2', E)
        for part in ('query', 'key', 'value'):
            keys.append((f'{b}.attn.{part}_conv.conv.weight', (E, 1, 3), False))
            keys += ln(f'{b}.attn.{part}_norm', E)
        for part in ('key', 'query', 'value', 'proj'):
            keys += [(f'{b}.attn.{part}.weight', (E, E, 1), False),
                     (f'{b}.attn.{part}.bias', (E, ), False)]
        keys += [(f'{b}.mlp.0.weight', (4 * E, E, 1), False), (f'{b}.mlp.0.bias', (4 * E, ), False),
                 (f'{b}.mlp.3.weight', (E, 4 * E, 1), False), (f'{b}.mlp.3.bias', (E, ), False),
                 (f'{b}.drop_path_attn.scale', (1, E, 1), False),
                 (f'{b}.drop_path_mlp.scale', (1, E, 1), False)]
    for lvl in range(LEVELS):
        keys += ln(f'neck.fpn_norms.{lvl}', E)
    for head, out in (('cls_head', N_CLS), ('reg_head', 2)):
        for i in range(2):  # head_num_layers 3: two tower convs (no bias with LN)
            keys.append((f'{head}.head.{i}.conv.weight', (H, E if i == 0 else H, 3), False))
            keys += ln(f'{head}.norm.{i}', H)
    keys += [('cls_head.cls_head.conv.weight', (N_CLS, H, 3), False),
             ('cls_head.cls_head.conv.bias', (N_CLS, ), False)]
    keys += [(f'reg_head.scale.{lvl}.scale', (), False) for lvl in range(LEVELS)]
    keys += [('reg_head.offset_head.conv.weight', (2, H, 3), False),
             ('reg_head.offset_head.conv.bias', (2, ), False)]
    return [(f'module.{k}', s, n) for k, s, n in keys]


def actionformer_checkpoint(epoch=2, iters_per_epoch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    layout = actionformer_layout()
    raw = {k: torch.randn(s, generator=g) for k, s, _ in layout}
    ema = {k: v + 0.01 * torch.randn(v.shape, generator=g) for k, v in raw.items()}
    # make_optimizer: weights of convs / linear layers (not LayerNorms) decay; each
    # group's parameters sorted by name, decay group first
    decay = sorted(k for k, _, is_ln in layout if k.endswith('weight') and not is_ln)
    rest = sorted(k for k, _, _ in layout if k not in set(decay))
    order = decay + rest
    step = float(epoch * iters_per_epoch)
    state = {i: dict(step=torch.tensor(step), exp_avg=torch.randn(raw[k].shape, generator=g),
                     exp_avg_sq=torch.rand(raw[k].shape, generator=g)) for i, k in enumerate(order)}
    common = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, amsgrad=False, initial_lr=1e-3)
    optimizer = dict(state=state, param_groups=[
        dict(common, weight_decay=0.05, params=list(range(len(decay)))),
        dict(common, weight_decay=0.0, params=list(range(len(decay), len(order))))])
    scheduler = dict(last_epoch=int(step), warmup_epochs=10, max_epochs=70, eta_min=1e-8,
                     warmup_start_lr=0.0, base_lrs=[1e-3, 1e-3], _step_count=int(step) + 1)
    ckpt = dict(epoch=epoch, state_dict=raw, state_dict_ema=ema, optimizer=optimizer,
                scheduler=scheduler)
    return ckpt, order


# ActionFormer name -> ours, written out for every kind of rule (a swapped query / key
# or a wrong level index would show here)
PAIRS = [
    ('module.backbone.embd.0.conv.weight', 'head.projection.embed.0.conv.weight'),
    ('module.backbone.embd_norm.0.bias', 'head.projection.embed_norm.0.bias'),
    ('module.backbone.stem.0.ln1.weight', 'head.projection.stem.0.norm1.weight'),
    ('module.backbone.branch.1.ln2.bias', 'head.projection.branch.1.norm2.bias'),
    ('module.backbone.stem.0.attn.query_conv.conv.weight',
     'head.projection.stem.0.attn.q_conv.conv.weight'),
    ('module.backbone.branch.0.attn.key_conv.conv.weight',
     'head.projection.branch.0.attn.k_conv.conv.weight'),
    ('module.backbone.branch.1.attn.value_norm.weight',
     'head.projection.branch.1.attn.v_norm.weight'),
    ('module.backbone.stem.0.attn.query.weight', 'head.projection.stem.0.attn.q_proj.weight'),
    ('module.backbone.stem.0.attn.key.bias', 'head.projection.stem.0.attn.k_proj.bias'),
    ('module.backbone.branch.0.attn.value.weight',
     'head.projection.branch.0.attn.v_proj.weight'),
    ('module.backbone.branch.1.attn.proj.weight', 'head.projection.branch.1.attn.out_proj.weight'),
    ('module.backbone.stem.0.mlp.3.bias', 'head.projection.stem.0.mlp.3.bias'),
    ('module.backbone.branch.0.drop_path_mlp.scale',
     'head.projection.branch.0.drop_path_mlp.scale'),
    ('module.neck.fpn_norms.2.weight', 'head.fpn_norms.2.weight'),
    ('module.cls_head.head.1.conv.weight', 'head.cls_head.tower.1.conv.weight'),
    ('module.reg_head.norm.0.bias', 'head.reg_head.norms.0.bias'),
    ('module.cls_head.cls_head.conv.bias', 'head.cls_head.out_conv.conv.bias'),
    ('module.reg_head.offset_head.conv.weight', 'head.reg_head.out_conv.conv.weight'),
    ('module.reg_head.scale.2.scale', 'head.scales.2'),
]


@pytest.fixture(scope='module')
def planted(tmp_path_factory):
    return write_planted_features(str(tmp_path_factory.mktemp('planted')))


def _config(planted, work_dir, max_epochs):
    sched = Config.fromfile(osp.join(ROOT, 'configs/_base_/schedules/adamw_cosine_thumos14.py'))
    cfg = tiny_feature_config(planted['ann_file'], planted['feature_dir'], work_dir,
                              max_epochs=max_epochs)
    cfg['model']['head'].update(embed_dims=E, head_dims=H, arch=ARCH, drop_path=0.1,
                                init_loss_norm=100)
    cfg['optim_wrapper'] = sched.optim_wrapper.to_dict()
    cfg['optim_wrapper']['optimizer']['lr'] = 1e-3
    cfg['param_scheduler'] = [s.to_dict() for s in sched.param_scheduler]
    cfg['custom_hooks'] = [h.to_dict() for h in sched.custom_hooks]  # the EMA hook
    cfg['default_hooks']['checkpoint'] = dict(type='CheckpointHook', interval=100)
    return cfg


def _write_config(cfg, path):
    Config(cfg).dump(path)
    return path


def test_converts_loads_strictly_and_maps_each_name(planted, tmp_path):
    ckpt, _ = actionformer_checkpoint()
    src, dst = str(tmp_path / 'epoch_002.pth.tar'), str(tmp_path / 'converted.pth')
    torch.save(ckpt, src)
    config = _write_config(_config(planted, str(tmp_path / 'w'), 35), str(tmp_path / 'c.py'))
    assert convert.main([src, dst, '--config', config]) == 0
    out = torch.load(dst, map_location='cpu', weights_only=True)

    init_default_scope('mmaction')
    model = MODELS.build(Config.fromfile(config).model)
    result = model.load_state_dict(out['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(out['ema_state_dict']) == {f'module.{k}' for k in model.state_dict()} | {'steps'}
    for af, ours in PAIRS:
        # state_dict holds the EMA weights (mmengine's EMA layout), ema_state_dict the raw
        torch.testing.assert_close(out['state_dict'][ours],
                                   ckpt['state_dict_ema'][af].reshape(model.state_dict()[ours].shape),
                                   rtol=0, atol=0)
        torch.testing.assert_close(out['ema_state_dict'][f'module.{ours}'],
                                   ckpt['state_dict'][af].reshape(model.state_dict()[ours].shape),
                                   rtol=0, atol=0)
    assert out['state_dict']['head.loss_normalizer'].item() == 100.0
    assert out['meta']['epoch'] == 2 and out['meta']['iter'] == 4


def test_name_map_refuses_unmapped_mis_shaped_and_missing_keys(planted, tmp_path):
    config = _write_config(_config(planted, str(tmp_path / 'w'), 35), str(tmp_path / 'c.py'))
    ckpt, _ = actionformer_checkpoint()

    def run(state):
        return convert.convert_checkpoint(dict(state_dict=state), config, source='af.pth')

    with pytest.raises(KeyError, match=r'af\.pth.*module\.backbone\.stem\.0\.attn\.rel_pe'):
        run(dict(ckpt['state_dict'], **{'module.backbone.stem.0.attn.rel_pe':
                                        torch.zeros(1, 1, 2, 9)}))
    bad = dict(ckpt['state_dict'])
    bad['module.backbone.embd.0.conv.weight'] = torch.zeros(E, C_IN + 1, 3)
    with pytest.raises(ValueError, match=r'embed\.0\.conv\.weight: checkpoint \(32, 17, 3\) '
                                         r'vs model \(32, 16, 3\)'):
        run(bad)
    bad = dict(ckpt['state_dict'])
    bad['module.neck.fpn_norms.0.weight'] = torch.zeros(E)
    with pytest.raises(ValueError, match=r'fpn_norms\.0\.weight.*\[1, C, 1\]'):
        run(bad)
    bad = dict(ckpt['state_dict'])
    del bad['module.reg_head.scale.1.scale']
    with pytest.raises(ValueError, match=r'model tensors no key fills.*head\.scales\.1'):
        run(bad)
    with pytest.raises(KeyError, match="'state_dict'"):
        convert.convert_checkpoint(dict(model={}), config, source='af.pth')


class _Recorder(Hook):
    priority = 'LOWEST'

    def __init__(self, names):
        self.names, self.seen = names, {}

    def before_train(self, runner):
        model = runner.model
        params = dict(model.named_parameters())
        ema = [h for h in runner.hooks if hasattr(h, 'ema_model')][0].ema_model.module
        ema_params = dict(ema.named_parameters())
        opt = runner.optim_wrapper.optimizer
        index = {id(p): p for g in opt.param_groups for p in g['params']}
        self.seen = dict(
            epoch=runner.epoch, iter=runner.iter, lr=opt.param_groups[0]['lr'],
            weights={n: params[n].detach().clone() for n in self.names},
            ema={n: ema_params[n].detach().clone() for n in self.names},
            exp_avg={n: opt.state[index[id(params[n])]]['exp_avg'].clone()
                     for n in self.names})


def test_training_resumes_from_a_converted_checkpoint(planted, tmp_path):
    """Epoch 2 of an ActionFormer run (2 iterations an epoch) resumes here at epoch 2 /
    iteration 4: raw weights in the model, the EMA in the EMA hook, AdamW moments on
    the right parameters, lr of the warm-up at iteration 4 (4 / 9 of the lr), and
    training goes on to epoch 3."""
    ckpt, order = actionformer_checkpoint(epoch=2, iters_per_epoch=2)
    src, dst = str(tmp_path / 'epoch_002.pth.tar'), str(tmp_path / 'converted.pth')
    torch.save(ckpt, src)
    cfg = _config(planted, str(tmp_path / 'w'), 3)
    config = _write_config(cfg, str(tmp_path / 'c.py'))
    convert.main([src, dst, '--config', config])

    cfg.update(resume=True, load_from=dst)
    runner = Runner.from_cfg(Config(cfg))
    names = ['head.projection.stem.0.attn.q_proj.weight', 'head.scales.1',
             'head.fpn_norms.0.bias']
    af_names = ['module.backbone.stem.0.attn.query.weight', 'module.reg_head.scale.1.scale',
                'module.neck.fpn_norms.0.bias']
    rec = _Recorder(names)
    runner.register_hook(rec)
    runner.train()
    seen = rec.seen
    assert (seen['epoch'], seen['iter']) == (2, 4)
    assert seen['lr'] == pytest.approx(1e-3 * 4 / 9)
    for ours, af in zip(names, af_names):
        shape = seen['weights'][ours].shape
        torch.testing.assert_close(seen['weights'][ours], ckpt['state_dict'][af].reshape(shape))
        torch.testing.assert_close(seen['ema'][ours], ckpt['state_dict_ema'][af].reshape(shape))
        moments = ckpt['optimizer']['state'][order.index(af)]['exp_avg'].reshape(shape)
        torch.testing.assert_close(seen['exp_avg'][ours], moments)
    assert runner.epoch == 3 and runner.iter == 6
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert loss == loss and abs(loss) < 1e6  # finite
