"""Ranking of tied scores: stable (default) vs numpy's order, and the mAP span ties allow
(pessimistic <= default <= optimistic), on hand cases, a brute force over all orders and
real released detections with many ties."""
import itertools
import os

import numpy as np
import pytest

from mmaction.registry import METRICS

from tests.conftest import SHARED_DATA
from tests.test_tal_metric import (CLASSES, THUMOS, THUMOS_TIOUS, _reference_map, dets,
                                   gt_of, write_ann)
from losa_plugin.evaluation import evaluate_detections, evaluate_submission
from losa_plugin.evaluation.tie_order import count_ties, rank_descending


def test_rank_descending():
    v = np.array([0.5, 0.9, 0.5, 0.1, 0.5])
    assert rank_descending(v).tolist() == [1, 0, 2, 4, 3]  # ties in input order
    assert rank_descending(v, 'numpy').tolist() == v.argsort()[::-1].tolist()
    # NaN (zero-length segments' tIoU) first, as under argsort()[::-1]
    w = np.array([0.2, np.nan, 0.7, np.nan])
    assert rank_descending(w).tolist() == [1, 3, 2, 0]
    assert np.isnan(w[rank_descending(w, 'numpy')[:2]]).all()
    with pytest.raises(ValueError, match="tie_order must be one of.*'random'"):
        rank_descending(v, 'random')


def test_count_ties():
    assert count_ties(np.array([.9, .5, .5, .5, .2, .2, .1])) == (5, 2)
    assert count_ties(np.array([.3, .2, .1])) == (0, 0)


def test_hand_case_span(tmp_path):
    videos = {'a': [(0, 10, 0), (20, 30, 0)]}
    # a TP at 0.9, then a tie at 0.5: a false positive listed before a true positive
    rows = [('a', 20, 30, .9, 0), ('a', 50, 60, .5, 0), ('a', 0, 10, .5, 0)]
    r = evaluate_detections(gt_of(tmp_path, videos), dets(rows), (0.5, ))
    # default keeps file order: TP, FP, TP -> precision 1, 1/2, 2/3 at recall .5, .5, 1
    assert r.mAP[0] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)
    assert r.mAP_pessimistic[0] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)
    assert r.mAP_optimistic[0] == 1.0  # TP, TP, FP
    assert (r.num_tied, r.num_tie_groups, r.tie_order) == (2, 1, 'stable')
    # the same detections listed the other way round: the default is now optimistic
    swapped = [rows[0], rows[2], rows[1]]
    r2 = evaluate_detections(gt_of(tmp_path, videos), dets(swapped), (0.5, ))
    assert r2.mAP[0] == r2.mAP_optimistic[0] == 1.0
    assert r2.mAP_pessimistic[0] == pytest.approx(r.mAP[0], abs=1e-15)
    report = r.tie_report()
    assert report['num_tied'] == 2 and report['average_mAP_optimistic'] == 1.0


def test_hand_case_span_with_duplicates(tmp_path):
    """Three tied detections: B's only one, then two copies of A. Whichever copy of A
    comes first takes A, so no order puts a false positive first; the lowest AP comes
    from A's copies taking the first two places (TP, FP, TP: AP 1/2 + 1/2 * 2/3), the
    highest from any order ending with a copy of A (TP, TP, FP: AP 1). Permuting the
    matched flags alone would claim FP, TP, TP (AP 1/2 * 2/3), which no order gives."""
    videos = {'a': [(0, 10, 0), (20, 30, 0)]}
    rows = [('a', 20, 30, .5, 0), ('a', 0, 10, .5, 0), ('a', 0, 10.5, .5, 0)]
    gt = gt_of(tmp_path, videos)
    r = evaluate_detections(gt, dets(rows), (0.5, ))
    assert r.mAP[0] == 1.0  # file order: B, A, A'
    assert r.mAP_pessimistic[0] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)
    assert r.mAP_optimistic[0] == 1.0
    every = [evaluate_detections(gt, dets(list(p)), (0.5, )).mAP[0]
             for p in itertools.permutations(rows)]
    assert min(every) == pytest.approx(r.mAP_pessimistic[0], abs=1e-15)
    assert max(every) == r.mAP_optimistic[0]


def test_hand_case_span_competing(tmp_path):
    """X overlaps A (tIoU 9.5/10.5) and B (8.5/11.5), Y only A (1.0; 8/12 with B) at
    tIoU 0.7, same score. X first takes A and leaves Y nothing (AP 1/2); Y first takes
    A and X takes B (AP 1)."""
    videos = {'a': [(0, 10, 0), (2, 12, 0)]}
    rows = [('a', 0.5, 10.5, .5, 0), ('a', 0, 10, .5, 0)]
    gt = gt_of(tmp_path, videos)
    r = evaluate_detections(gt, dets(rows), (0.7, ))
    assert r.mAP[0] == r.mAP_pessimistic[0] == 0.5
    assert r.mAP_optimistic[0] == 1.0
    assert evaluate_detections(gt, dets(rows[::-1]), (0.7, )).mAP[0] == 1.0


def _random_case(rng, n_videos=3, n_gt=3):
    """Well separated ground truth; detections are jittered copies (duplicates allowed)
    or background, so no detection can match two different ground truths and the
    matched set does not depend on the order within ties."""
    videos, rows = {}, []
    for v in range(n_videos):
        gts = [(40 * k, 40 * k + 10, int(rng.integers(0, 2))) for k in range(n_gt)]
        videos[f'v{v}'] = gts
        for s, e, c in gts:
            for _ in range(int(rng.integers(0, 3))):
                j = rng.uniform(-2, 2, 2)
                rows.append((f'v{v}', s + j[0], e + j[1], 0, c))
        for _ in range(2):
            s = 40 * int(rng.integers(0, n_gt)) + 15
            rows.append((f'v{v}', s, s + 10, 0, int(rng.integers(0, 2))))
    levels = np.array([.9, .6, .3])  # few distinct values: many ties
    return videos, [r[:3] + (float(levels[rng.integers(0, 3)]), r[4]) for r in rows]


@pytest.mark.parametrize('seed', [11, 1, 0])  # 192 and 960 orders (all), 3456 (200 drawn)
def test_span_equals_brute_force_over_orders(tmp_path, seed):
    """Evaluate every file order of the tied detections with the stable ranking (a
    reference that is just 'ties in file order'): the min and max are the pessimistic
    and optimistic mAP, and every order lies between them."""
    rng = np.random.default_rng(seed)
    videos, rows = _random_case(rng)
    gt = gt_of(tmp_path, videos)
    tious = (0.5, 0.7)
    base = evaluate_detections(gt, dets(rows), tious)
    assert base.num_tied >= 4
    # all orders within ties = all orders of each (class, score) group; cap the count
    groups = {}
    for i, r in enumerate(rows):
        groups.setdefault((r[4], r[3]), []).append(i)
    perms = [list(itertools.permutations(g)) for g in groups.values()]
    n_orders = int(np.prod([len(p) for p in perms]))
    choices = itertools.product(*perms) if n_orders <= 1000 else \
        (tuple(p[rng.integers(len(p))] for p in perms) for _ in range(3000))
    seen = []
    for choice in choices:
        order = [i for g in choice for i in g]
        seen.append(evaluate_detections(gt, dets([rows[i] for i in order]), tious).mAP)
    seen = np.array(seen)
    assert np.all(base.mAP_pessimistic <= base.mAP + 1e-15)
    assert np.all(base.mAP <= base.mAP_optimistic + 1e-15)
    assert np.all(seen >= base.mAP_pessimistic - 1e-12)
    assert np.all(seen <= base.mAP_optimistic + 1e-12)
    if n_orders <= 1000:  # exhaustive: the bounds are attained
        assert seen.min(axis=0) == pytest.approx(base.mAP_pessimistic, abs=1e-12)
        assert seen.max(axis=0) == pytest.approx(base.mAP_optimistic, abs=1e-12)
    assert np.any(base.mAP_optimistic > base.mAP_pessimistic)


def test_no_ties_all_equal(tmp_path):
    rng = np.random.default_rng(3)
    videos, rows = _random_case(rng)
    scores = rng.permutation(len(rows)) / len(rows) + 0.01  # distinct
    rows = [r[:3] + (float(s), r[4]) for r, s in zip(rows, scores)]
    gt = gt_of(tmp_path, videos)
    for order in ('stable', 'numpy'):
        r = evaluate_detections(gt, dets(rows), (0.3, 0.5, 0.7), tie_order=order)
        assert r.num_tied == 0 and r.num_tie_groups == 0
        assert np.array_equal(r.mAP_pessimistic, r.mAP)
        assert np.array_equal(r.mAP_optimistic, r.mAP)
    s = evaluate_detections(gt, dets(rows), (0.3, 0.5, 0.7))
    n = evaluate_detections(gt, dets(rows), (0.3, 0.5, 0.7), tie_order='numpy')
    assert np.array_equal(s.ap, n.ap)


def _python_rank(values):
    """Python's sort is stable: equal values keep their order (file order)."""
    return sorted(range(len(values)), key=lambda i: -values[i])


@pytest.mark.parametrize('name', ['scnn', 'a2net'])
def test_released_detections_stable_order_and_span(name):
    results_file = os.path.join(SHARED_DATA, f'thumos14_preds_{name}.json')
    stable = evaluate_submission(THUMOS, results_file, 'Test', THUMOS_TIOUS)
    official = evaluate_submission(THUMOS, results_file, 'Test', THUMOS_TIOUS,
                                   tie_order='numpy')
    # the default equals an independent reference that ranks with Python's stable sort
    reference = _reference_map(THUMOS, 'Test', results_file, THUMOS_TIOUS,
                               rank=_python_rank)
    assert np.abs(stable.mAP - reference).max() <= 1e-12, (stable.mAP, reference)
    assert stable.num_tied == official.num_tied > 5000
    for r in (stable, official):
        assert np.all(r.mAP_pessimistic <= r.mAP) and np.all(r.mAP <= r.mAP_optimistic)
    # the official order (this numpy) lies in the span the default reports
    assert np.all(stable.mAP_pessimistic <= official.mAP)
    assert np.all(official.mAP <= stable.mAP_optimistic)
    print(f'{name}: {stable.num_tied} tied detections in {stable.num_tie_groups} groups; '
          f'average mAP stable {100 * stable.average_mAP:.2f}, numpy '
          f'{100 * official.average_mAP:.2f} (numpy {np.__version__}), span '
          f'{100 * stable.mAP_pessimistic.mean():.2f}-'
          f'{100 * stable.mAP_optimistic.mean():.2f}')


def test_tal_metric_tie_order(tmp_path):
    ann = write_ann(tmp_path / 'ann.json', {'a': [(0, 10, 0)]})
    common = dict(type='TALMetric', ann_file=ann, subset='Test', class_names=CLASSES,
                  tiou_thresholds=(0.5, ), merge_nms=None)
    samples = [dict(video_id='a', pred_instances=dict(
        segments=np.array([[50., 60.], [0., 10.]]), scores=np.array([.5, .5]),
        labels=np.array([0, 0])))]
    metric = METRICS.build(common)
    metric.process(None, samples)
    assert metric.compute_metrics(metric.results)['average_mAP'] == 0.5  # FP listed first
    numpy_metric = METRICS.build(dict(common, tie_order='numpy'))
    numpy_metric.process(None, samples)
    first = np.argsort(np.array([.5, .5]))[::-1][0]
    assert numpy_metric.compute_metrics(numpy_metric.results)['average_mAP'] == \
        (1.0 if first == 1 else 0.5)
    with pytest.raises(ValueError, match='TALMetric: tie_order must be one of'):
        METRICS.build(dict(common, tie_order='sorted'))
