"""The analytic memory estimate against a measured small LoSA config, and its scaling.

Tolerance: 35 %. On this machine (CPU, peak-RSS growth) the estimate's error over the
measurements in docs/efficiency.md is -12 % .. +23 % (this config at 256 frames, 96 px:
-12 %); 35 % leaves room for run-to-run noise of the RSS watermark and for what the
estimate leaves out (small kernel temporaries, fragmentation), while still failing if a
term of the model (taps, neck activations, gradients, AdamW) is lost or double counted:
each of those is >= 25 % of the total here.
"""
import copy
import json
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from losa_plugin.benchmark.memory_estimate import estimate_memory

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'configs/efficiency/losa_tiny.py')
TOLERANCE = 0.35


@pytest.mark.slow(cpu_s=20)
def test_estimate_within_tolerance_of_measurement(tmp_path):
    out = tmp_path / 'bench.json'
    cmd = [sys.executable, osp.join(ROOT, 'tools/benchmark.py'), TINY, '--frames', '256',
           '--size', '96', '--estimate', '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(out.read_text())['rows'][0]
    est = estimate_memory(Config.fromfile(TINY), 256, 96, 96)
    # the tool reports the estimator's own figure (consistency only; the terms are
    # checked against real tensor sizes in test_mutation_memory_terms.py)
    assert abs(est.step_growth_mb - row['est_step_growth_mb']) < 1e-6
    terms = est.terms
    # the terms this test guards are each a sizeable part of the total
    assert terms['taps'] + terms['neck_spatial'] > 0.25 * est.step_growth_mb
    rel = abs(est.step_growth_mb - row['peak_mem_mb']) / row['peak_mem_mb']
    assert rel < TOLERANCE, (est.step_growth_mb, row['peak_mem_mb'], terms)


def test_estimate_scales_with_window_and_modes():
    cfg = Config.fromfile(TINY)
    small = estimate_memory(cfg, 256, 96, 96)
    large = estimate_memory(cfg, 1024, 96, 96)
    # taps and the neck's spatial activations grow linearly with the window
    assert abs(large.terms['taps'] / small.terms['taps'] - 4) < 1e-6
    assert abs(large.terms['neck_spatial'] / small.terms['neck_spatial'] - 4) < 1e-6
    stream = copy.deepcopy(cfg)
    stream.model.backbone.tap_reduce = 'spatial_mean'
    stream.model.neck.spatial_cfg = dict(mode='mean')
    reduced = estimate_memory(stream, 1024, 96, 96)
    # streaming stores [T, T_i, C] instead of [T, T_i, H_i, W_i, C]: 36x fewer at 96 px
    assert abs(large.terms['taps'] / reduced.terms['taps'] - 36) < 1e-6
    bf16 = copy.deepcopy(cfg)
    bf16.model.backbone.dtype = 'bf16'
    assert abs(estimate_memory(bf16, 1024, 96, 96).terms['taps'] * 2 - large.terms['taps']) < 1e-6
    ft = copy.deepcopy(cfg)
    ft.model.backbone.update(frozen=False, with_cp=False)
    ft_cp = copy.deepcopy(cfg)
    ft_cp.model.backbone.update(frozen=False, with_cp=True)
    assert estimate_memory(ft, 1024, 96, 96).terms['backbone_saved'] > \
        estimate_memory(ft_cp, 1024, 96, 96).terms['backbone_saved'] > 0


def test_estimate_of_pooled_taps_and_tap_width_adapters():
    cfg = Config.fromfile(TINY)
    full = estimate_memory(cfg, 512, 96, 96)  # a 6 x 6 grid per tap
    pooled = {}
    for p in (2, 4, 8):
        pool = copy.deepcopy(cfg)
        pool.model.backbone.update(tap_reduce='spatial_pool', tap_pool_size=p)
        pooled[p] = estimate_memory(pool, 512, 96, 96)
    # stored taps and the conv's activations shrink by H_i * W_i / p^2 ...
    assert abs(full.terms['taps'] / pooled[2].terms['taps'] - 36 / 4) < 1e-6
    assert abs(full.terms['taps'] / pooled[4].terms['taps'] - 36 / 16) < 1e-6
    # ... and a pool wider than the grid stores the full taps
    assert abs(pooled[8].terms['taps'] - full.terms['taps']) < 1e-6
    assert pooled[8].terms['neck_spatial'] == full.terms['neck_spatial']
    assert full.terms['neck_spatial'] > pooled[4].terms['neck_spatial'] \
        > pooled[2].terms['neck_spatial']
    assert full.step_growth_mb > pooled[4].step_growth_mb > pooled[2].step_growth_mb
    # adapters at each tap's width: narrower taps count narrower reduced features
    neck_w = copy.deepcopy(cfg)
    neck_w.model.neck.update(adapter_width='neck', out_channels=384)
    tap_w = copy.deepcopy(cfg)
    tap_w.model.neck.update(adapter_width='tap', out_channels=384)
    wide = estimate_memory(neck_w, 512, 96, 96).terms['neck_spatial']
    narrow = estimate_memory(tap_w, 512, 96, 96).terms['neck_spatial']
    # the tiny ViT's taps are 192 wide: 3 adapted layers at 192 instead of 384
    clips, t_i = 512 // 16, 8
    assert abs((wide - narrow) * 2**20 - 3 * clips * t_i * (384 - 192) * 4 * 2) < 1


@pytest.mark.slow(cpu_s=46)
def test_method_estimates_within_tolerance_of_measurement(tmp_path):
    """The baselines on the tiny ViT (one subprocess per row): adapters inside the
    backbone keep activations of every block for the backward pass, UniPT its neck's.
    256 frames keep UniPT's growth (~25 MB) well above the RSS meter's noise (measured
    errors -6 % .. +21 %; at 128 frames UniPT's 13 MB once missed the tolerance)."""
    out = tmp_path / 'bench.json'
    cmd = [sys.executable, osp.join(ROOT, 'tools/benchmark.py'), TINY, '--frames', '256',
           '--size', '64', '--strategies', 'st_adapter', 'aim', 'unipt', 'adatad',
           '--estimate', '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r['strategy']: r for r in json.loads(out.read_text())['rows']}
    assert set(rows) == {'st_adapter', 'aim', 'unipt', 'adatad'}
    for name, row in rows.items():
        rel = abs(row['est_step_growth_mb'] - row['peak_mem_mb']) / row['peak_mem_mb']
        assert rel < TOLERANCE, (name, row['est_step_growth_mb'], row['peak_mem_mb'])
    # the saved activations are the dominant term of the in-block adapters
    assert rows['aim']['est_terms_mb']['backbone_saved'] > 0.5 * rows['aim']['est_step_growth_mb']


def test_method_estimates_scale_as_their_memory_model():
    from losa_plugin.benchmark.strategies import derive_strategy_cfg
    cfg = Config.fromfile(TINY).model.to_dict()
    est = {s: {f: estimate_memory(derive_strategy_cfg(cfg, s), f, 96, 96) for f in (256, 512)}
           for s in ('st_adapter', 'aim', 'adatad', 'unipt')}
    for s in ('st_adapter', 'aim'):
        # no checkpointing: every clip's block activations, linear in the window
        small, large = (est[s][f].terms['backbone_saved'] for f in (256, 512))
        assert large > 1.9 * small
    # AIM keeps more per block than ST-Adapter (its extra attention along time)
    assert est['aim'][512].terms['backbone_saved'] > est['st_adapter'][512].terms['backbone_saved']
    # AdaTAD checkpoints: one block input per clip and block instead of ~13
    assert est['adatad'][512].terms['backbone_saved'] < est['st_adapter'][512].terms['backbone_saved']
    # UniPT: a frozen backbone (nothing saved there) and the neck's own activations
    assert est['unipt'][512].terms['backbone_saved'] == 0
    assert est['unipt'][512].terms['neck_adapters'] > est['unipt'][256].terms['neck_adapters'] > 0
