"""The memory estimate term by term against real tensors (issue 18, mutation 4).

``test_memory_estimate.py`` compares the total with a measured RSS at a 35 % tolerance,
which a doubled term can hide in. Here the terms that are exact by construction are
checked exactly, two-sided, on several configs (LoSA with full / pooled / averaged /
bf16 taps, head-only, a PEFT baseline with adapters inside the backbone, UniPT):

* ``taps``: the bytes of the tensors the real backbone returns for the window;
* ``frozen_weights`` / ``learnable_weights`` / ``grads`` / ``adamw``: 4 / 4 / 4 / 8 bytes
  per parameter of the real model (``requires_grad`` decides which);
* ``input``: the float32 window; ``head``: ``K_HEAD`` floats of ``embed_dims`` per step of
  the grid the real neck outputs;
* the totals from the terms as the module docstring states them.
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmaction.registry import MODELS

from losa_plugin.benchmark.memory_estimate import K_HEAD, MB, estimate_memory
from losa_plugin.benchmark.strategies import derive_strategy_cfg

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'configs/efficiency/losa_tiny.py')
FRAMES, SIZE = 32, 64  # two 16-frame clips at 64 x 64: a 4 x 4 token grid per tap


def _variant(name):
    model = Config.fromfile(TINY).model.to_dict()
    if name == 'mean':
        model['backbone'].update(tap_reduce='spatial_mean')
        model['neck']['spatial_cfg'] = dict(mode='mean')
    elif name == 'pool2':
        model['backbone'].update(tap_reduce='spatial_pool', tap_pool_size=2)
    elif name == 'bf16':
        model['backbone'].update(dtype='bf16')
    elif name != 'losa':
        model = derive_strategy_cfg(model, name)
    return model


@pytest.mark.parametrize('name', ['losa', 'mean', 'pool2', 'bf16', 'head_only', 'aim', 'unipt'])
def test_exact_terms_equal_real_tensor_sizes(name):
    init_default_scope('mmaction')
    cfg = _variant(name)
    est = estimate_memory(copy.deepcopy(cfg), FRAMES, SIZE, SIZE)
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg))
    frames = torch.randn(1, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        taps = model.backbone(frames, torch.ones(1, FRAMES, dtype=torch.bool))
        feats, _ = model.neck(taps)
    terms = {k: v * MB for k, v in est.terms.items()}  # bytes
    tap_bytes = sum(f.numel() * f.element_size() for f in taps.feats)
    assert terms['taps'] == tap_bytes, (name, terms['taps'], tap_bytes)
    learnable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert (est.learnable_params, est.total_params) == (learnable, total)
    assert terms['learnable_weights'] == terms['grads'] == 4 * learnable
    assert terms['adamw'] == 8 * learnable
    assert terms['frozen_weights'] == 4 * (total - learnable)
    # the native bf16 path's weight copy (issue 17): the real backbone's buffers
    lowp = getattr(model.backbone, 'lowp', None)
    assert terms['lowp_weights'] == (0 if lowp is None else sum(
        b.numel() * b.element_size() for b in lowp.buffers()))
    assert (lowp is not None) == (name == 'bf16')
    assert terms['input'] == frames.numel() * 4
    embed = cfg['head']['embed_dims']
    assert terms['head'] == K_HEAD * embed * feats.shape[-1] * 4
    # the totals, composed as the module docstring states
    if name in ('aim',):  # autograd runs through the backbone: everything is held at once
        act = (terms['backbone_saved'] + terms['taps'] + terms['head'] + terms['neck_spatial']
               + terms['neck_adapters'])
    else:  # frozen: the backbone phase, then the neck / head phase, each over the taps
        assert terms['backbone_saved'] == 0
        act = max(terms['taps'] + terms['backbone_transient'],
                  terms['taps'] + terms['neck_spatial'] + terms['neck_adapters']
                  + terms['head'])
    assert est.activation_peak_mb * MB == pytest.approx(act, rel=1e-12)
    assert est.step_growth_mb * MB == pytest.approx(
        max(act + terms['grads'], terms['grads'] + terms['adamw']), rel=1e-12)
    assert est.peak_mb * MB == pytest.approx(
        terms['frozen_weights'] + terms['lowp_weights'] + terms['learnable_weights']
        + terms['adamw'] + terms['grads'] + act + terms['input'], rel=1e-12)


def test_config_forms_defaults_and_errors():
    """A config file name, a Config and a model dict give the same estimate; the
    adapters' attention probabilities are left out unless asked for; a model without a
    backbone is refused by name."""
    init_default_scope('mmaction')
    from_file = estimate_memory(TINY, FRAMES, SIZE, SIZE)
    from_cfg = estimate_memory(Config.fromfile(TINY), FRAMES, SIZE, SIZE)
    from_model = estimate_memory(Config.fromfile(TINY).model.to_dict(), FRAMES, SIZE, SIZE)
    assert from_file.as_dict() == from_cfg.as_dict() == from_model.as_dict()
    probs = estimate_memory(TINY, FRAMES, SIZE, SIZE, attention_materialized=True)
    assert probs.terms['neck_adapters'] > from_file.terms['neck_adapters']
    assert {k: v for k, v in probs.terms.items() if k != 'neck_adapters'} == \
        {k: v for k, v in from_file.terms.items() if k != 'neck_adapters'}
    model = Config.fromfile(TINY).model.to_dict()
    model['backbone'] = None
    with pytest.raises(ValueError, match='^estimate_memory: the model config has no backbone$'):
        estimate_memory(model, FRAMES, SIZE, SIZE)
    with pytest.raises(ValueError, match='frames=40 is not a multiple of clip_len=16'):
        estimate_memory(TINY, 40, SIZE, SIZE)
