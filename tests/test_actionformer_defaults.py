"""Every shipped ActionFormer default, pinned to ActionFormer's own values
(configs/thumos_i3d.yaml, configs/anet_tsp.yaml over libs/core/config.py, and
libs/utils/train_utils.py of actionformer_release); docs/actionformer.md maps them."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmaction.registry import MODELS, PARAM_SCHEDULERS

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
THUMOS_RANGES = ((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000))


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path))


def test_thumos_head_only_config_is_actionformer_thumos_i3d():
    cfg = _cfg('configs/head_only/actionformer_i3d_thumos14_features.py')
    h = cfg.model.head
    assert (h.in_channels, h.embed_dims, h.head_dims, h.num_heads) == (2048, 512, 512, 4)
    assert tuple(h.arch) == (2, 2, 5) and h.n_mha_win_size == 19
    assert tuple(map(tuple, h.regress_ranges)) == THUMOS_RANGES
    assert (h.center_radius, h.cls_prior_prob, h.init_loss_norm) == (1.5, 0.01, 100)
    assert (h.proj_drop, h.drop_path, h.label_smoothing) == (0.0, 0.1, 0.0)
    assert h.padding == 'actionformer' and h.max_seq_len == 2304
    assert h.get('use_abs_pe', False) is False
    assert (h.loss_cls.gamma, h.loss_cls.alpha, h.loss_reg.loss_weight) == (2.0, 0.25, 1.0)
    t = h.test_cfg
    assert (t.pre_nms_thresh, t.pre_nms_topk, t.duration_thresh) == (0.001, 2000, 0.05)
    assert t.multiclass_nms is True
    assert dict(t.nms) == dict(method='soft', iou_threshold=0.1, sigma=0.5, min_score=0.001,
                               max_num=200, voting_thresh=0.0)
    # schedule: AdamW 1e-4, weight decay 0.05, clip 1.0, 30 + 5 warm-up epochs
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert (cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay) == \
        (1e-4, 0.05)
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    assert cfg.train_cfg.max_epochs == 35 and cfg.warmup_epochs == 5
    # data: batch 2, windows of 2304 steps, trunc_thresh 0.5, crop_ratio (0.9, 1.0)
    assert cfg.train_dataloader.batch_size == 2
    trunc = cfg.train_dataloader.dataset.pipeline[1]
    assert trunc.type == 'RandomTruncateFeature' and trunc.max_seq_len == 2304
    assert (trunc.trunc_thresh, tuple(trunc.crop_ratio)) == (0.5, (0.9, 1.0))
    assert (cfg.feature_stride, cfg.frames_per_feature) == (4, 16)


def test_activitynet_head_only_config_is_actionformer_anet_tsp():
    cfg = _cfg('configs/head_only/actionformer_tsp_activitynet13_features.py')
    h = cfg.model.head
    assert (h.in_channels, h.embed_dims, h.head_dims, h.num_heads) == (512, 256, 256, 4)
    assert list(h.n_mha_win_size) == [7, 7, 7, 7, 7, -1]
    assert h.use_abs_pe is True and h.max_seq_len == 192
    assert tuple(map(tuple, h.regress_ranges)) == THUMOS_RANGES
    assert (h.init_loss_norm, h.label_smoothing, h.drop_path, h.proj_drop) == \
        (200, 0.1, 0.1, 0.0)
    assert h.loss_reg.loss_weight == 2.0
    t = h.test_cfg
    assert t.multiclass_nms is False and t.duration_thresh == 0.001
    assert t.pre_nms_topk == 2000
    assert (t.nms.sigma, t.nms.max_num, t.nms.min_score, t.nms.voting_thresh) == \
        (0.75, 100, 0.001, 0.9)
    assert (cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay) == \
        (1e-3, 0.05)
    assert cfg.train_cfg.max_epochs == 15 and cfg.warmup_epochs == 5
    assert cfg.train_dataloader.batch_size == 16 and cfg.resize_len == 192
    trunc = cfg.train_dataloader.dataset.pipeline[2]
    assert trunc.max_seq_len == 192 and tuple(trunc.crop_ratio) == (0.9, 1.0)
    init_default_scope('mmaction')
    head = MODELS.build(h)
    assert head.max_div_factor == 96
    assert tuple(head.projection.pos_embed.shape) == (256, 192)
    assert 'head.projection.pos_embed' not in head.state_dict()  # not saved, as there


@pytest.mark.parametrize('path', ['configs/losa/losa_videomaev2-b_activitynet13.py',
                                  'configs/losa/losa_videomaev2-g_activitynet13.py'])
def test_activitynet_video_configs_use_class_agnostic_nms(path):
    t = _cfg(path).model.head.test_cfg
    assert t.multiclass_nms is False and t.duration_thresh == 0.001
    assert (t.nms.sigma, t.nms.max_num, t.nms.voting_thresh) == (0.75, 100, 0.9)


def _actionformer_decays(module_name: str, param_name: str, module: torch.nn.Module) -> bool:
    """ActionFormer's make_optimizer: only weights of Linear / Conv1d decay."""
    return param_name == 'weight' and isinstance(module, (torch.nn.Linear, torch.nn.Conv1d))


def test_weight_decay_groups_follow_actionformer():
    cfg = _cfg('configs/head_only/actionformer_i3d_thumos14_features.py')
    cfg.model.head.in_channels = 16  # the grouping does not depend on it
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay_of = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups
                for p in g['params']}
    layer_scales = 0
    for mod_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            expected = 0.05 if _actionformer_decays(mod_name, name, module) else 0.0
            assert decay_of[id(p)] == expected, f'{mod_name}.{name}'
            layer_scales += name == 'scale' and 'drop_path' in mod_name
    assert layer_scales == 14  # (2 stem + 5 branch blocks) x (attention, MLP)
    assert len(decay_of) == sum(1 for _ in model.parameters())


def _actionformer_lr(k: int, base: float, warmup: int, total: int, eta_min: float = 1e-8):
    """LinearWarmupCosineAnnealingLR (warmup_start_lr 0), closed form, per iteration."""
    if k < warmup:
        return base * k / (warmup - 1)
    return eta_min + 0.5 * (base - eta_min) * (1 + math.cos(math.pi * (k - warmup)
                                                            / (total - warmup)))


@pytest.mark.filterwarnings('ignore:Detected call of')
@pytest.mark.parametrize('path,base,epochs', [
    ('configs/_base_/schedules/adamw_cosine_thumos14.py', 1e-4, 35),
    ('configs/_base_/schedules/adamw_cosine_activitynet13.py', 1e-3, 15)])
def test_schedule_warms_up_from_zero_then_cosine(path, base, epochs):
    cfg = _cfg(path)
    init_default_scope('mmaction')
    per_epoch = 7
    param = torch.nn.Parameter(torch.zeros(1))
    gate = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{'params': [param]}, {'params': [gate], 'lr': base * 10}], lr=base)
    schedulers = []
    for sc in cfg.param_scheduler:
        sc = dict(sc)
        cls = PARAM_SCHEDULERS.get(sc.pop('type'))
        assert sc.pop('convert_to_iter_based')
        schedulers.append(cls.build_iter_from_epoch(opt, **sc, epoch_length=per_epoch))
    warmup, total = 5 * per_epoch, epochs * per_epoch
    for k in range(total):
        expected = _actionformer_lr(k, base, warmup, total)
        assert opt.param_groups[0]['lr'] == pytest.approx(expected, rel=1e-9, abs=1e-15), k
        # a group with its own lr (x10, the gates') follows the same schedule from it
        assert opt.param_groups[1]['lr'] == pytest.approx(
            _actionformer_lr(k, 10 * base, warmup, total), rel=1e-9, abs=1e-15), k
        for s in schedulers:
            s.step()


@pytest.mark.filterwarnings('ignore:Detected call of')
def test_closed_form_warmup_resumes_from_its_state():
    init_default_scope('mmaction')
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    cls = PARAM_SCHEDULERS.get('ClosedFormLinearLR')
    sched = cls(opt, start_factor=0.0, begin=0, end=5, by_epoch=False)
    lrs = [opt.param_groups[0]['lr']]
    for _ in range(3):
        sched.step()
        lrs.append(opt.param_groups[0]['lr'])
    assert lrs == pytest.approx([0.0, 0.25, 0.5, 0.75])
    state = sched.state_dict()
    opt2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    again = cls(opt2, start_factor=0.0, begin=0, end=5, by_epoch=False)
    again.load_state_dict(state)
    again.step()
    assert opt2.param_groups[0]['lr'] == pytest.approx(1.0)
