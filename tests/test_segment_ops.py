"""tIoU, class-wise (soft-)NMS and score voting on 1-D segments."""
import math

import numpy as np
import pytest
import torch

from losa_plugin.utils.segment_ops import (batched_segment_nms, pairwise_tiou,
                                           pairwise_tiou_np, segment_voting)


def _tiou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def _reference_nms(segs, scores, labels, method, iou_threshold, sigma, min_score):
    """From the definitions: per class, repeatedly keep the best remaining segment and
    decay (or remove) the others; drop what falls below min_score."""
    kept = []
    for cls in sorted(set(labels)):
        pool = [(i, scores[i]) for i in range(len(segs))
                if labels[i] == cls and scores[i] >= min_score]
        while pool:
            best = max(range(len(pool)), key=lambda k: pool[k][1])
            i, s = pool.pop(best)
            kept.append((i, s, cls))
            rest = []
            for j, sj in pool:
                t = _tiou(segs[i], segs[j])
                if method == 'soft':
                    sj *= math.exp(-t * t / sigma)
                elif method == 'linear':
                    sj *= (1 - t) if t >= iou_threshold else 1.0
                elif method == 'hard' and t > iou_threshold:
                    continue
                if sj >= min_score:
                    rest.append((j, sj))
            pool = rest
    return sorted(kept, key=lambda k: -k[1])


def _random_segments(n, seed):
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 50, n)
    segs = np.stack([start, start + rng.uniform(0.5, 15, n)], axis=1)
    return segs, rng.uniform(0.01, 1, n), rng.integers(0, 3, n)


def test_pairwise_tiou_hand_values():
    a = torch.tensor([[0., 10.], [5., 5.]])
    b = torch.tensor([[0., 10.], [5., 15.], [20., 30.], [5., 5.]])
    expected = torch.tensor([[1., 5 / 15, 0., 0.], [0., 0., 0., 0.]])
    assert torch.allclose(pairwise_tiou(a, b), expected)
    # numpy twin: same values where the union is non-empty, NaN (as the official
    # evaluator) for two zero-length segments
    np_tiou = pairwise_tiou_np(a.numpy(), b.numpy())
    assert np.allclose(np_tiou[0], expected[0].numpy())
    assert np.isnan(np_tiou[1, 3])
    with pytest.raises(ValueError, match=r'\[N, 2\]'):
        pairwise_tiou(torch.zeros(3), b)


@pytest.mark.parametrize('method,iou_threshold', [('soft', 0.1), ('linear', 0.3),
                                                  ('hard', 0.4), ('hard', 0.0)])
def test_nms_matches_reference(method, iou_threshold):
    segs, scores, labels = _random_segments(60, seed=int(iou_threshold * 10) + len(method))
    sigma, min_score = 0.5, 1e-3
    out_segs, out_scores, out_labels = batched_segment_nms(
        torch.from_numpy(segs), torch.from_numpy(scores), torch.from_numpy(labels),
        iou_threshold, method=method, sigma=sigma, min_score=min_score)
    ref = _reference_nms(segs.tolist(), scores.tolist(), labels.tolist(), method,
                         iou_threshold, sigma, min_score)
    assert len(out_scores) == len(ref)
    assert out_segs.dtype == torch.float64  # the inputs' own bounds come back
    ref_idx = [r[0] for r in ref]
    assert np.array_equal(out_segs.numpy(), segs[ref_idx])
    assert np.allclose(out_scores.numpy(), [r[1] for r in ref], rtol=1e-5, atol=1e-7)
    assert out_labels.tolist() == [r[2] for r in ref]
    assert torch.all(out_scores[:-1] >= out_scores[1:])
    if method == 'hard':  # hard NMS never rescores
        assert np.array_equal(out_scores.numpy(), scores[ref_idx])


def test_none_min_score_and_max_num():
    segs, scores, labels = _random_segments(40, seed=3)
    s, sc, lab = batched_segment_nms(torch.from_numpy(segs), torch.from_numpy(scores),
                                     torch.from_numpy(labels), 0.5, method='none',
                                     min_score=0.5, max_num=7)
    order = np.argsort(-scores, kind='stable')
    expected = [i for i in order if scores[i] >= 0.5][:7]
    assert np.array_equal(sc.numpy(), scores[expected])
    assert np.array_equal(s.numpy(), segs[expected])
    assert np.array_equal(lab.numpy(), labels[expected])


def test_classes_are_independent():
    # identical segments of two classes: neither suppresses the other
    segs = torch.tensor([[0., 10.], [0., 10.]])
    s, sc, lab = batched_segment_nms(segs, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]),
                                     0.5, method='hard')
    assert sorted(lab.tolist()) == [0, 1]


def test_voting_hand_computed():
    segs = torch.tensor([[0., 10.], [1., 11.], [30., 40.], [0., 10.]])
    scores = torch.tensor([0.9, 0.6, 0.5, 0.7])
    labels = torch.tensor([0, 0, 0, 1])
    s, sc, lab = batched_segment_nms(segs, scores, labels, 0.5, method='hard',
                                     voting_thresh=0.5)
    # class 0 keeps [0, 10] (0.9) and [30, 40]; [1, 11] (tIoU 9/11) votes:
    # (0.9 * [0, 10] + 0.6 * [1, 11]) / 1.5 = [0.4, 10.4]. Class 1 votes alone.
    assert torch.allclose(s, torch.tensor([[0.4, 10.4], [0., 10.], [30., 40.]]))
    assert torch.allclose(sc, torch.tensor([0.9, 0.7, 0.5]))
    assert lab.tolist() == [0, 1, 0]
    # a tighter vote threshold leaves the bounds alone
    s2, _, _ = batched_segment_nms(segs, scores, labels, 0.5, method='hard',
                                   voting_thresh=0.9)
    assert torch.equal(s2, torch.tensor([[0., 10.], [0., 10.], [30., 40.]]))
    # zero-score voters leave a segment unchanged instead of dividing by zero
    out = segment_voting(torch.tensor([[0., 1.]]), torch.tensor([[0., 1.]]),
                         torch.tensor([0.]), 0.5)
    assert torch.equal(out, torch.tensor([[0., 1.]]))


@pytest.mark.parametrize('method', ['soft', 'linear', 'hard', 'none'])
def test_empty_input(method):
    s, sc, lab = batched_segment_nms(torch.zeros(0, 2), torch.zeros(0),
                                     torch.zeros(0, dtype=torch.long), 0.5, method=method,
                                     voting_thresh=0.5)
    assert s.shape == (0, 2) and sc.shape == (0, ) and lab.shape == (0, )
    # everything below min_score is empty as well
    s, sc, lab = batched_segment_nms(torch.tensor([[0., 1.]]), torch.tensor([1e-4]),
                                     torch.tensor([0]), 0.5, method=method)
    assert s.shape == (0, 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match='method'):
        batched_segment_nms(torch.zeros(1, 2), torch.ones(1), torch.zeros(1, dtype=torch.long),
                            0.5, method='gaussian')
    with pytest.raises(ValueError, match='labels'):
        batched_segment_nms(torch.zeros(2, 2), torch.ones(2), torch.zeros(3, dtype=torch.long),
                            0.5)
