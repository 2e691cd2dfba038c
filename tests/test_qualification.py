"""The qualification checks of a synthetic regime (LoSA's premise, measured without LoSA):
the TAL-class probe, the best-block choice and the paired intervals."""
import math

import numpy as np
import pytest

from losa_plugin.synthetic.layer_probe import fit_probe
from losa_plugin.synthetic.qualification import (best_block, probe_by_block, probe_check,
                                                  qualification)


def _block_features(block: int, labels, informative: bool, dim: int = 12):
    """Train and val features of one block: Gaussian noise, plus (``informative``) a
    class mean 3 sd away in a class-specific direction (the same for train and val)."""
    gen = np.random.default_rng(100 + block)
    centres = gen.normal(size=(6, dim))
    return [gen.normal(size=(len(y), dim)) + (3 * centres[y] if informative else 0)
            for y in labels]


def test_probe_finds_the_block_that_carries_the_tal_classes():
    """A hand-made backbone: block 2 carries the six classes, blocks 1 and 3 and the last
    (4, and its F_N pooling) only noise. The probe scores block 2 near 1 and the others
    near chance (1/6); K* = 2 and check 1 passes; with the last block informative too it
    fails (no margin)."""
    rng = np.random.default_rng(0)
    y_train, y_val = rng.integers(0, 6, 600), rng.integers(0, 6, 300)
    probe = {}
    for block, informative in ((1, False), (2, True), (3, False), (4, False)):
        data = _block_features(block, (y_train, y_val), informative)
        probe[f'layer{block}/grid'] = fit_probe(data[0], y_train, data[1], y_val, 6)
        probe[f'layer{block}/mean'] = 0.0  # the other pooling is ignored
    probe['last_pooled/grid'] = probe['layer4/grid']
    by_block = probe_by_block(probe)
    assert set(by_block) == {'1', '2', '3', '4', 'F_N'}
    assert by_block['2'] > 0.9 and max(by_block['1'], by_block['3'], by_block['4']) < 0.35
    assert best_block(by_block) == 2
    check = probe_check(by_block)
    assert check['passes'] and check['block'] == 2 and check['last_block'] == 4
    assert check['margin'] == pytest.approx(by_block['2'] - max(by_block['4'],
                                                                 by_block['F_N']))
    # the bar is the better of the last block's two poolings
    assert not probe_check(dict(by_block, F_N=by_block['2'] - 0.05))['passes']


def test_best_block_never_picks_the_last_and_breaks_ties_to_the_deeper():
    assert best_block({'1': 0.5, '2': 0.7, '3': 0.7, '4': 0.9, 'F_N': 0.95}) == 3
    assert best_block({'1': 0.8, '2': 0.2, '3': 0.1}) == 1
    with pytest.raises(ValueError, match='need an intermediate and a last block'):
        best_block({'4': 0.9, 'F_N': 0.9})


def _runs(values):
    return dict(per_seed=[dict(seed=s, average_mAP=v) for s, v in enumerate(values)])


def _t_interval(d):
    """Two-sided 95 % t-interval of the mean of ``d`` (t quantiles from a table)."""
    t975 = {2: 4.302653, 5: 2.570582, 11: 2.200985}
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = t975[n - 1] * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def test_qualification_intervals_come_from_the_per_seed_differences():
    """Checks 2 and 3 against a hand computation: 12 paired seeds for the best block
    (interval above 0: passes), 3 for full FT (interval across 0: fails); full FT's
    seeds pair with head-only's seeds of the same number only."""
    head = [0.10, 0.12, 0.11, 0.09, 0.13, 0.10, 0.11, 0.12, 0.10, 0.09, 0.11, 0.12]
    block = [h + d for h, d in zip(head, [0.02, 0.01, 0.03, 0.015, 0.02, 0.025, 0.01,
                                          0.02, 0.03, 0.005, 0.02, 0.015])]
    full = [head[0] + 0.03, head[1] - 0.02, head[2] + 0.01]
    results = dict(head_only=_runs(head), head_only_best_block=_runs(block),
                   full_ft=_runs(full))
    probe = {'layer1/grid': 0.8, 'layer2/grid': 0.5, 'last_pooled/grid': 0.55}
    q = qualification(results, probe, block=1)
    mean, lo, hi = _t_interval([b - h for b, h in zip(block, head)])
    c2 = q['head_only_best_block']
    assert c2['block'] == 1 and c2['n'] == 12 and c2['passes']
    assert c2['delta_average_mAP'] == pytest.approx(mean, abs=1e-12)
    assert c2['ci95'] == pytest.approx([lo, hi], abs=1e-6)
    mean, lo, hi = _t_interval([f - h for f, h in zip(full, head)])
    c3 = q['full_ft']
    assert c3['n'] == 3 and not c3['passes'] and lo < 0 < hi
    assert c3['ci95'] == pytest.approx([lo, hi], abs=1e-6)
    assert q['probe_check']['passes'] and q['probe'] == {'1': 0.8, '2': 0.5, 'F_N': 0.55}
    assert q['premise_holds'] is False  # check 3 fails
    full_ok = [h + 0.02 + 0.001 * k for k, h in enumerate(head[:6])]
    assert qualification(dict(results, full_ft=_runs(full_ok)), probe, 1)['premise_holds']
    # a check not run: the premise is not shown
    missing = qualification(dict(head_only=results['head_only']), probe, 1)
    assert missing['full_ft'] is None and not missing['premise_holds']
