"""ActionFormer's post-processing (libs/utils/nms.py of actionformer_release): per-class
or class-agnostic soft-NMS, and voting weighted by score x tIoU, only after
class-agnostic NMS; hand-computed cases."""
import math

import pytest
import torch
from mmaction.registry import MODELS

from losa_plugin.models.heads.actionformer_nms import actionformer_nms, score_iou_voting


def _nms(segs, scores, labels, **kw):
    cfg = dict(method='soft', iou_threshold=0.1, sigma=0.5, min_score=0.001, max_num=200)
    cfg.update(kw)
    return actionformer_nms(torch.tensor(segs), torch.tensor(scores), torch.tensor(labels),
                            **cfg)


def test_multiclass_vs_class_agnostic_soft_nms():
    """A = [0, 10] .9 (class 0), B = [0, 5] .8 (class 1, tIoU .5 with A), C = [20, 30]
    .7 (class 0). Per class nothing overlaps; across classes B decays by
    exp(-0.5^2 / 0.5)."""
    segs, scores, labels = [[0., 10.], [0., 5.], [20., 30.]], [0.9, 0.8, 0.7], [0, 1, 0]
    s, sc, lab = _nms(segs, scores, labels, multiclass=True)
    assert s.tolist() == [[0., 10.], [0., 5.], [20., 30.]] and lab.tolist() == [0, 1, 0]
    assert sc.tolist() == pytest.approx([0.9, 0.8, 0.7])
    s, sc, lab = _nms(segs, scores, labels, multiclass=False)
    assert s.tolist() == [[0., 10.], [20., 30.], [0., 5.]] and lab.tolist() == [0, 0, 1]
    assert sc.tolist() == pytest.approx([0.9, 0.7, 0.8 * math.exp(-0.25 / 0.5)], rel=1e-6)


# K = [0, 10] .9, V = [1, 11] .6 (tIoU 9/11 with K), F = [0, 20] .5 (tIoU .5 with K and V)
VOTE_SEGS = [[0., 10.], [1., 11.], [0., 20.]]
VOTE_SCORES = [0.9, 0.6, 0.5]


def test_class_agnostic_voting_weights_are_score_times_iou():
    """Hard NMS at tIoU 0.6 keeps K and F; K's voters (tIoU >= 0.7) are K (weight .9)
    and V (weight .6 x 9/11 = 5.4/11): K -> [6/17, 10 + 6/17]. Weights of the score
    alone would give [0.4, 10.4]. F has no voter but itself."""
    s, sc, lab = _nms(VOTE_SEGS, VOTE_SCORES, [0, 1, 0], method='hard', iou_threshold=0.6,
                      multiclass=False, voting_thresh=0.7)
    assert lab.tolist() == [0, 0] and sc.tolist() == pytest.approx([0.9, 0.5])
    torch.testing.assert_close(s, torch.tensor([[6 / 17, 10 + 6 / 17], [0., 20.]]))


def test_multiclass_nms_does_not_vote_by_default_and_votes_per_class_as_option():
    s, _, _ = _nms(VOTE_SEGS, VOTE_SCORES, [0, 0, 0], method='hard', iou_threshold=0.6)
    assert s.tolist() == [[0., 10.], [0., 20.]]  # voting_thresh 0: bounds untouched
    # option: voting among the class's own candidates; V of another class does not vote
    s, _, _ = _nms(VOTE_SEGS, VOTE_SCORES, [0, 1, 0], method='hard', iou_threshold=0.6,
                   voting_thresh=0.7)
    assert s.tolist() == [[0., 10.], [1., 11.], [0., 20.]]
    s, _, _ = _nms(VOTE_SEGS, VOTE_SCORES, [0, 0, 0], method='hard', iou_threshold=0.6,
                   voting_thresh=0.7)
    torch.testing.assert_close(s, torch.tensor([[6 / 17, 10 + 6 / 17], [0., 20.]]))


def test_voting_leaves_segments_without_weight_and_empty_inputs():
    kept = torch.tensor([[0., 1.]])
    out = score_iou_voting(kept, torch.tensor([[0., 1.]]), torch.tensor([0.0]), 0.5)
    assert torch.equal(out, kept)
    s, sc, lab = _nms([[0., 1.]], [0.0001], [0], multiclass=False, voting_thresh=0.9)
    assert s.shape == (0, 2) and sc.shape == (0, ) and lab.shape == (0, )


def test_class_agnostic_max_num_keeps_the_best():
    segs = [[float(i) * 10, float(i) * 10 + 5] for i in range(5)]
    s, sc, lab = _nms(segs, [0.1, 0.5, 0.3, 0.9, 0.2], [0, 1, 2, 3, 4], max_num=2,
                      multiclass=False)
    assert lab.tolist() == [3, 1] and sc.tolist() == pytest.approx([0.9, 0.5])


def test_head_uses_the_configured_nms():
    """The head hands its candidates to actionformer_nms with test_cfg.multiclass_nms
    and the nms settings."""
    torch.manual_seed(0)
    cfg = dict(type='ActionFormerHead', num_classes=3, in_channels=8, embed_dims=16,
               head_dims=16, arch=(1, 1, 2), n_mha_win_size=5, drop_path=0.0,
               regress_ranges=((0, 4), (4, 8), (8, 10000)))
    nms = dict(method='soft', iou_threshold=0.1, sigma=0.75, min_score=0.001, max_num=100,
               voting_thresh=0.9)
    agnostic = MODELS.build(dict(cfg, test_cfg=dict(multiclass_nms=False, nms=nms))).eval()
    x, mask = torch.randn(1, 8, 32), torch.ones(1, 32, dtype=torch.bool)
    out = agnostic.predict(x, mask)[0]
    cls, off, valid, points = agnostic._flat_outputs(*agnostic(x, mask))
    cand = agnostic._candidates(cls[0], off[0], valid[0], points, [32, 16, 8])
    ref = actionformer_nms(*cand, multiclass=False, **nms)
    torch.testing.assert_close(out.segments, ref[0])
    torch.testing.assert_close(out.scores, ref[1])
    per_class = actionformer_nms(*cand, multiclass=True, **nms)
    assert len(out.scores) != len(per_class[1]) or not torch.equal(out.segments,
                                                                   per_class[0])
    with pytest.raises(ValueError, match='unknown test_cfg.nms'):
        MODELS.build(dict(cfg, test_cfg=dict(nms=dict(voting=0.9))))
