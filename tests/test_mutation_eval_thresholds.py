"""The evaluator at its boundaries (issue 18, mutation 5): a tIoU exactly on a
threshold matches ("tIoU >= threshold", as the official evaluator's ``tiou < thr``
rejection), in the ordinary matching and in the tie span's re-matching; thresholds
(0, 1] are accepted, 0 is not. All tIoUs here are exact in binary floating point
(segment lengths in powers of two)."""
import numpy as np
import pytest

from losa_plugin.evaluation.detection_eval import Detections, evaluate_detections

CLASSES = ['a', 'b']


def _gt(videos):
    return [dict(video_id=v, segments=np.asarray(s, float).reshape(-1, 2),
                 labels=np.asarray(lab, np.int64), class_names=CLASSES)
            for v, (s, lab) in videos.items()]


def _dets(rows):
    """rows: (video, start, end, score, label)."""
    return Detections([r[0] for r in rows], np.array([[r[1], r[2]] for r in rows], float),
                      np.array([r[3] for r in rows], float), np.array([r[4] for r in rows]))


def test_tiou_exactly_on_each_threshold_is_a_match():
    # ground truth [0, 8]; predictions [0, 2], [0, 4], [0, 6]: tIoU 0.25, 0.5, 0.75
    gt = _gt({'v1': ([[0, 8]], [0]), 'v2': ([[0, 8]], [0]), 'v3': ([[0, 8]], [0])})
    dets = _dets([('v1', 0, 2, 0.9, 0), ('v2', 0, 4, 0.8, 0), ('v3', 0, 6, 0.7, 0)])
    res = evaluate_detections(gt, dets, [0.25, 0.5, 0.75, 1.0])
    # at 0.25 all three match: AP 1; at 0.5 the first (0.25) is a false positive,
    # then two hits: precision 1/2 and 2/3 at recall 1/3, 2/3 -> AP (1/3)(2/3)*2 = 4/9;
    # at 0.75 only the last: precision 1/3 at recall 1/3 -> 1/9; at 1.0 none.
    np.testing.assert_allclose(res.ap[:, 0], [1.0, 4 / 9, 1 / 9, 0.0], rtol=0, atol=1e-12)


def test_exact_tiou_at_one_and_threshold_bounds():
    gt = _gt({'v1': ([[1, 3]], [1])})
    res = evaluate_detections(gt, _dets([('v1', 1, 3, 0.5, 1)]), [1.0])
    assert res.ap.tolist() == [[1.0]]
    for bad in ([0.0, 0.5], [0.5, 1.5], []):
        with pytest.raises(ValueError, match='tiou_thresholds'):
            evaluate_detections(gt, _dets([('v1', 1, 3, 0.5, 1)]), bad)


def test_best_candidate_on_the_threshold_is_taken_before_a_locked_one_is_skipped():
    """Two ground truths [0, 4] and [2, 6] in one video; A = [0, 4] (score .9) takes
    the first; B = [0, 4] (.8) has tIoU 1 with the locked first and exactly 1/3 with
    the second ([2, 4] over [0, 6]): at threshold 1/3 it takes the second."""
    gt = _gt({'v': ([[0, 4], [2, 6]], [0, 0])})
    dets = _dets([('v', 0, 4, 0.9, 0), ('v', 0, 4, 0.8, 0)])
    third = 2.0 / 6.0  # the evaluator's own arithmetic gives exactly this float
    res = evaluate_detections(gt, dets, [third, 0.5])
    np.testing.assert_allclose(res.ap[:, 0], [1.0, 0.5], rtol=0, atol=1e-12)


def test_tie_span_rematching_accepts_a_tiou_on_the_threshold():
    """Two tied detections (score .5): H = [0, 2] with tIoU exactly 0.5 to the ground
    truth [0, 4], M = [6, 8] with none. Pessimistic order (M first): precision 1/2 at
    recall 1 -> AP .5; optimistic (H first) and file order: AP 1."""
    gt = _gt({'v': ([[0, 4]], [0])})
    dets = _dets([('v', 0, 2, 0.5, 0), ('v', 6, 8, 0.5, 0)])
    res = evaluate_detections(gt, dets, [0.5])
    assert res.num_tied == 2 and res.num_tie_groups == 1
    np.testing.assert_allclose(res.mAP, [1.0], rtol=0, atol=0)
    np.testing.assert_allclose(res.mAP_pessimistic, [0.5], rtol=0, atol=0)
    np.testing.assert_allclose(res.mAP_optimistic, [1.0], rtol=0, atol=0)
    # just above the threshold neither matches, in every order
    above = evaluate_detections(gt, dets, [np.nextafter(0.5, 1.0)])
    assert above.mAP.tolist() == above.mAP_pessimistic.tolist() == \
        above.mAP_optimistic.tolist() == [0.0]


def test_tie_span_locks_what_an_untied_detection_took():
    """A (score .9) takes ground truth row 0; then a tie at .5 of B (a copy of A, only
    row 0 in reach) and C (background). Whatever the order both tied ones are false
    positives: AP 1 and a span of width 0 (an untied match must lock, even row 0)."""
    gt = _gt({'v': ([[0, 8]], [0])})
    dets = _dets([('v', 0, 8, 0.9, 0), ('v', 0, 8, 0.5, 0), ('v', 20, 28, 0.5, 0)])
    res = evaluate_detections(gt, dets, [0.5])
    assert res.mAP.tolist() == res.mAP_pessimistic.tolist() == \
        res.mAP_optimistic.tolist() == [1.0]


def test_tie_span_with_a_detection_reaching_two_ground_truths():
    """Tied X = [0, 10] (tIoU 1 with A = [0, 10], 8/12 with B = [2, 12]) and Y = [4, 14]
    (only B: 8/12; 6/14 with A) at 0.5: every order matches both, AP 1 throughout."""
    gt = _gt({'v': ([[0, 10], [2, 12]], [0, 0])})
    dets = _dets([('v', 0, 10, 0.5, 0), ('v', 4, 14, 0.5, 0)])
    res = evaluate_detections(gt, dets, [0.5])
    assert res.mAP.tolist() == res.mAP_pessimistic.tolist() == \
        res.mAP_optimistic.tolist() == [1.0]


def test_tie_blocks_and_the_default_tie_order():
    from losa_plugin.evaluation.interpolated_ap import match_class
    from losa_plugin.evaluation.tie_order import tie_blocks
    for scores, blocks in (([], []), ([0.5], [0]), ([0.9, 0.9, 0.5, 0.2, 0.2], [0, 0, 1, 2, 2])):
        out = tie_blocks(np.array(scores))
        assert out.dtype == np.int64 and out.tolist() == blocks
    # match_class's own default is the stable order: equal scores stay in input order
    m = match_class(np.array([0]), np.array([[0.0, 4.0]]), np.array([0, 0, 0]),
                    np.array([[8.0, 9.0], [0.0, 4.0], [0.0, 4.0]]), np.array([0.5, 0.5, 0.5]),
                    [0.5])
    assert m.rank.tolist() == [0, 1, 2] and m.matched.tolist() == [[-1, 0, -1]]
