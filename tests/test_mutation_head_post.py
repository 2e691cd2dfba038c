"""ActionFormer post-processing at its boundaries and with its arguments (issue 18,
survivors of the head post-processing mutation run): defaults, the per-class path's
sigma / min_score / max_num, scores exactly at min_score, voting weights summing below
1 and a voter exactly at the voting threshold. Hand-computed; all tIoUs exact."""
import math

import pytest
import torch

from losa_plugin.models.heads.actionformer_nms import actionformer_nms

SEGS = [[0., 10.], [0., 5.], [20., 30.]]  # [0, 5] has tIoU .5 with [0, 10]
SCORES = [0.9, 0.8, 0.7]
LABELS = [0, 0, 1]


def _run(segs=SEGS, scores=SCORES, labels=LABELS, **kw):
    return actionformer_nms(torch.tensor(segs), torch.tensor(scores), torch.tensor(labels), **kw)


def test_defaults_are_actionformers_per_class_soft_nms():
    """Gaussian soft-NMS per class, sigma .5: [0, 5] decays to .8 exp(-.25 / .5)."""
    s, sc, lab = _run()
    assert s.tolist() == [[0., 10.], [20., 30.], [0., 5.]] and lab.tolist() == [0, 1, 0]
    assert sc.tolist() == pytest.approx([0.9, 0.7, 0.8 * math.exp(-0.5)], rel=1e-6)


def test_per_class_path_passes_sigma_min_score_and_max_num():
    _, sc, _ = _run(sigma=0.25)
    assert sc.tolist() == pytest.approx([0.9, 0.7, 0.8 * math.exp(-1.0)], rel=1e-6)
    s, sc, _ = _run(max_num=2)
    assert s.tolist() == [[0., 10.], [20., 30.]]
    s, sc, _ = _run(min_score=0.5)  # the decayed .485 falls below it
    assert s.tolist() == [[0., 10.], [20., 30.]]


@pytest.mark.parametrize('multiclass', [True, False])
def test_a_score_exactly_at_min_score_is_kept(multiclass):
    s, sc, _ = _run([[0., 4.], [10., 14.]], [0.5, 0.25], [0, 1], min_score=0.25,
                    multiclass=multiclass)
    assert s.tolist() == [[0., 4.], [10., 14.]] and sc.tolist() == [0.5, 0.25]


def test_class_agnostic_max_num_one_and_all():
    assert len(_run(multiclass=False, max_num=1)[0]) == 1
    assert len(_run(multiclass=False, max_num=-1)[0]) == 3


def test_voting_with_weights_summing_below_one_and_a_voter_on_the_threshold():
    """K = [0, 10] (.3) and V = [1, 11] (.2, tIoU 9/11, suppressed by hard NMS at .6):
    K -> (.3 [0, 10] + .2 * 9/11 [1, 11]) / (.3 + .2 * 9/11) = [6/17, 10 + 6/17] although
    the weights sum to .46. Then K = [0, 8] (.8), V = [0, 4] (.4, tIoU exactly .5) at a
    voting threshold of .5: K -> (.8 [0, 8] + .2 [0, 4]) / 1 = [0, 7.2]."""
    s, _, _ = _run([[0., 10.], [1., 11.]], [0.3, 0.2], [0, 0], method='hard',
                   iou_threshold=0.6, multiclass=False, voting_thresh=0.7)
    torch.testing.assert_close(s, torch.tensor([[6 / 17, 10 + 6 / 17]]))
    s, _, _ = _run([[0., 8.], [0., 4.]], [0.8, 0.4], [0, 0], method='hard',
                   iou_threshold=0.4, multiclass=False, voting_thresh=0.5)
    torch.testing.assert_close(s, torch.tensor([[0.0, 7.2]]))
