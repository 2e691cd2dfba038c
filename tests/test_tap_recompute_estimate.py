"""The memory estimate of the tap recompute mode, term by term against real tensors.

In recompute mode no tap is stored (``taps = 0``); the forward keeps the spatial blocks'
per-clip outputs and their masked copies (``neck_spatial``: two ``[T*T_i, C'_i]``
tensors per used layer, no conv output); the backward pass recomputes one micro-batch,
whose spatial blocks save ``recompute_saved``. These are checked against the tensors
the real model produces and the bytes autograd really saves.
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmaction.registry import MODELS

from losa_plugin.benchmark.memory_estimate import MB, estimate_memory

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'configs/efficiency/losa_tiny.py')
FRAMES, SIZE = 96, 64  # six 16-frame clips, three micro-batches of two


def _cfg(recompute: bool, **backbone) -> dict:
    model = Config.fromfile(TINY).model.to_dict()
    model['backbone'].update(tap_recompute=recompute, **backbone)
    return model


def _saved_bytes(fn, *args) -> int:
    """Bytes of the distinct non-parameter storages autograd saves while ``fn`` runs."""
    seen, total = set(), [0]

    def pack(t):
        storage = t.untyped_storage()
        if not isinstance(t, torch.nn.Parameter) and storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total[0] += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return total[0]


@pytest.mark.parametrize('dtype', [None, 'bf16'])
def test_recompute_terms_equal_real_tensors(dtype):
    init_default_scope('mmaction')
    cfg = _cfg(True, dtype=dtype)
    est = estimate_memory(copy.deepcopy(cfg), FRAMES, SIZE, SIZE)
    default = estimate_memory(_cfg(False, dtype=dtype), FRAMES, SIZE, SIZE)
    terms = {k: v * MB for k, v in est.terms.items()}
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg)).train()
    frames = torch.randn(1, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(1, FRAMES, dtype=torch.bool)
    out = model.backbone(frames, mask, clip_reducer=model.neck.reduce_clip_taps)
    assert out.feats == () and terms['taps'] == 0 < default.terms['taps']
    reduced = sum(t.numel() * t.element_size() for t in out.clip_reduced)
    assert all(t.dtype == torch.float32 for t in out.clip_reduced)
    # the joined outputs and their masked copies; no conv output is kept
    assert terms['neck_spatial'] == 2 * reduced
    assert default.terms['neck_spatial'] * MB > terms['neck_spatial'] + terms['taps']
    # what one micro-batch's spatial blocks save when the backward pass recomputes it
    n = model.backbone.clip_batch
    with torch.no_grad():
        taps = model.backbone(frames[:, :, :n * 16], mask[:, :n * 16])
    stored = [t[0] for t in taps.feats]  # [n, T_i, H_i, W_i, C_i], the stored form
    saved = _saved_bytes(model.neck.reduce_clip_taps, stored)
    # autograd also keeps each LayerNorm's mean and rstd ([n, T_i, 1]) and, with bf16
    # taps, the conv weights cast to bf16: 0.2 % / 1.7 % here
    assert terms['recompute_saved'] == pytest.approx(saved, rel=0.02)
    # the phases, composed as the module docstring states
    kept = terms['neck_spatial'] / 2
    neck_phase = terms['neck_spatial'] + terms['neck_adapters'] + terms['head']
    act = max(kept + terms['backbone_transient'], neck_phase,
              kept + terms['backbone_transient'] + terms['recompute_saved'])
    assert est.activation_peak_mb * MB == pytest.approx(act, rel=1e-12)
    assert est.learnable_params == default.learnable_params


def test_recompute_memory_does_not_grow_with_stored_taps():
    """Per added clip recompute keeps ``sum_i T_i C'_i`` floats twice; the default keeps
    the full taps and conv outputs: the gap grows with the window."""
    init_default_scope('mmaction')
    small = estimate_memory(_cfg(True), 256, SIZE, SIZE)
    large = estimate_memory(_cfg(True), 1024, SIZE, SIZE)
    assert large.terms['recompute_saved'] == small.terms['recompute_saved']  # one micro-batch
    assert large.terms['neck_spatial'] == pytest.approx(4 * small.terms['neck_spatial'])
    dflt = estimate_memory(_cfg(False), 1024, SIZE, SIZE)
    assert large.activation_peak_mb < 0.5 * dflt.activation_peak_mb
