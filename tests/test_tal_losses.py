"""DIoU loss, point generator, centre-sampling assigner and the head's loss
normalisation (ActionFormer training targets)."""
import math

import pytest
import torch
from mmaction.registry import MODELS, TASK_UTILS
from mmengine.structures import InstanceData
from mmaction.structures import ActionDataSample

from losa_plugin.models.heads import CenterSamplingAssigner1D, PointGenerator1D, diou_loss_1d


# ------------------------------------------------------------------ DIoU loss
def test_diou_identical_segments_is_zero():
    off = torch.tensor([[2.0, 3.0], [0.5, 7.0]])
    assert torch.allclose(diou_loss_1d(off, off.clone()), torch.zeros(2), atol=1e-7)


def test_diou_hand_computed_values():
    pred = torch.tensor([[1.0, 1.0], [1.0, 3.0], [0.0, 1.0]])
    target = torch.tensor([[2.0, 2.0], [2.0, 1.0], [1.0, 0.0]])
    # same centre: I=2, U=4 -> 1 - 0.5 + 0
    # [t-1, t+3] vs [t-2, t+1]: I=2, U=5, E=5, centres t+1 / t-0.5 -> 1 - 0.4 + (1.5/5)^2
    # disjoint (touching) [t, t+1] vs [t-1, t]: I=0, E=2, centres 1 apart -> 1 + (1/2)^2
    expected = torch.tensor([0.5, 1 - 0.4 + 0.09, 1.25])
    got = diou_loss_1d(pred, target)
    assert torch.allclose(got, expected, atol=1e-6)
    assert got[2] > 1  # the centre-distance term pushes disjoint pairs above 1


def test_diou_matches_segment_geometry_on_random_pairs():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(50, 2, generator=g) * 5, torch.rand(50, 2, generator=g) * 5
    ps, pe = -pred[:, 0], pred[:, 1]  # segments around t = 0
    gs, ge = -target[:, 0], target[:, 1]
    inter = (torch.minimum(pe, ge) - torch.maximum(ps, gs)).clamp(min=0)
    union = (pe - ps) + (ge - gs) - inter
    enclose = torch.maximum(pe, ge) - torch.minimum(ps, gs)
    rho = (pe + ps) / 2 - (ge + gs) / 2
    expected = 1 - inter / union + (rho / enclose) ** 2
    assert torch.allclose(diou_loss_1d(pred, target), expected, atol=1e-5)


def test_diou_wrapper_reduction_and_weight():
    loss = MODELS.build(dict(type='DIoULoss1D', reduction='sum', loss_weight=2.0))
    pred = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    target = torch.tensor([[2.0, 2.0], [1.0, 0.0]])
    assert torch.isclose(loss(pred, target), torch.tensor(2.0 * (0.5 + 1.25)))
    assert torch.isclose(loss(pred, target, avg_factor=4.0), torch.tensor(2.0 * 1.75 / 4))
    with pytest.raises(ValueError, match='reduction'):
        MODELS.build(dict(type='DIoULoss1D', reduction='avg'))
    with pytest.raises(ValueError, match=r'\[N, 2\]'):
        diou_loss_1d(torch.zeros(3, 2), torch.zeros(3, 3))


# ------------------------------------------------------- points and assignment
def _points():
    gen = TASK_UTILS.build(dict(type='PointGenerator1D', strides=(1, 2, 4),
                                regress_ranges=((0, 4), (4, 8), (8, 10000))))
    return gen([16, 8, 4])


def test_point_generator_positions_ranges_strides():
    pts = _points()
    assert [p.shape for p in pts] == [(16, 4), (8, 4), (4, 4)]
    assert pts[1][:, 0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14]
    assert pts[2][:, 0].tolist() == [0, 4, 8, 12]
    assert pts[2][0, 1:].tolist() == [8, 10000, 4]
    with pytest.raises(ValueError, match='regress_ranges'):
        PointGenerator1D((1, 2), ((0, 4),))


def _index(level, pos):
    """Row of (level, position) in the concatenated points of :func:`_points`."""
    return [0, 16, 24][level] + pos // (1, 2, 4)[level]


def test_assigner_centre_sampling_and_regression_ranges():
    points = torch.cat(_points())
    segments = torch.tensor([[4.0, 8.0], [0.0, 16.0], [5.0, 9.0]])
    labels = torch.tensor([0, 1, 2])
    cls, reg = CenterSamplingAssigner1D(num_classes=3, center_radius=1.5).assign(
        points, segments, labels)
    positives = {(lvl, pos) for lvl in range(3) for pos in range(0, 16, (1, 2, 4)[lvl])
                 if cls[_index(lvl, pos)].sum() > 0}
    # [4, 8]: centre region [4.5, 7.5] -> level-0 points 5, 6, 7 (max distance <= 4);
    # level 1 point 6 has max distance 2 < 4, out of (4, 8).
    # [0, 16]: level 0 out of range; level 1 region [5, 11] -> only 8 has max dist in
    # [4, 8] (inclusive); level 2 region [2, 14] -> 4, 8, 12 (max dist 12, 8, 12).
    # [5, 9]: level-0 points 6, 7, 8.
    assert positives == {(0, 5), (0, 6), (0, 7), (0, 8), (1, 8), (2, 4), (2, 8), (2, 12)}
    assert cls[_index(0, 5)].tolist() == [1, 0, 0]
    assert cls[_index(0, 8)].tolist() == [0, 0, 1]
    # 6 and 7 lie in both 4-long segments: equal lengths -> multi-hot
    assert cls[_index(0, 6)].tolist() == [1, 0, 1]
    assert cls[_index(1, 8)].tolist() == [0, 1, 0]
    # offsets are (t - start, end - t) / stride
    assert reg[_index(0, 5)].tolist() == [1.0, 3.0]
    assert reg[_index(0, 8)].tolist() == [3.0, 1.0]
    assert reg[_index(1, 8)].tolist() == [4.0, 4.0]
    assert reg[_index(2, 4)].tolist() == [1.0, 3.0]
    assert reg[_index(2, 12)].tolist() == [3.0, 1.0]


def test_assigner_prefers_the_shortest_segment():
    points = PointGenerator1D((1,), ((0, 10000),))([10])[0]
    segments = torch.tensor([[0.0, 6.0], [2.0, 4.0]])
    cls, reg = CenterSamplingAssigner1D(2).assign(points, segments, torch.tensor([0, 1]))
    assert cls[3].tolist() == [0, 1] and reg[3].tolist() == [1.0, 1.0]  # inside both
    assert cls[2].tolist() == [1, 0] and reg[2].tolist() == [2.0, 4.0]
    assert cls[4].tolist() == [1, 0]
    assert cls[[0, 1, 5, 6]].sum() == 0  # outside [1.5, 4.5]


def test_assigner_without_centre_sampling_and_empty_gt():
    points = PointGenerator1D((1,), ((0, 10000),))([10])[0]
    assigner = CenterSamplingAssigner1D(2, center_radius=None)
    cls, _ = assigner.assign(points, torch.tensor([[0.0, 6.0]]), torch.tensor([1]))
    assert cls[:, 1].nonzero().flatten().tolist() == [1, 2, 3, 4, 5]  # strictly inside
    cls, reg = assigner.assign(points, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    assert cls.shape == (10, 2) and cls.sum() == 0 and reg.shape == (10, 2)
    with pytest.raises(ValueError, match='end < start'):
        assigner.assign(points, torch.tensor([[5.0, 2.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match='labels'):
        assigner.assign(points, torch.tensor([[1.0, 2.0]]), torch.tensor([2]))


# ------------------------------------------------------ head loss normalisation
def _tiny_head(**kw):
    cfg = dict(type='ActionFormerHead', num_classes=3, in_channels=8, embed_dims=16,
               head_dims=16, arch=(1, 1, 2), n_mha_win_size=5,
               regress_ranges=((0, 4), (4, 8), (8, 10000)), drop_path=0.0)
    cfg.update(kw)
    return MODELS.build(cfg)


def _sample(segments, labels):
    s = ActionDataSample()
    s.gt_instances = InstanceData(segments=torch.as_tensor(segments, dtype=torch.float32),
                                  labels=torch.tensor(labels))
    return s


def test_focal_loss_resolves_from_mmdet_scope():
    loss = MODELS.build(dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                             reduction='sum'))
    assert type(loss).__module__.startswith('mmdet.')


def test_head_losses_are_focal_and_diou_over_positive_count_ema():
    torch.manual_seed(0)
    head = _tiny_head()
    feats, mask = torch.randn(2, 8, 32), torch.ones(2, 32, dtype=torch.bool)
    mask[1, 20:] = False
    samples = [_sample([[3.0, 9.0], [12.0, 30.0]], [0, 2]), _sample([[2.0, 5.0]], [1])]
    losses = head.loss(feats, mask, samples)
    assert set(losses) == {'loss_cls', 'loss_reg'}

    # Recompute from the raw outputs with the hand-written focal formula.
    cls_logits, offsets, masks = head(feats, mask)
    cls, off, valid, points = head._flat_outputs(cls_logits, offsets, masks)
    targets = [head.assigner.assign(points, s.gt_instances.segments, s.gt_instances.labels)
               for s in samples]
    gt_cls = torch.stack([t[0] for t in targets])
    gt_reg = torch.stack([t[1] for t in targets])
    pos = (gt_cls.sum(-1) > 0) & valid
    num_pos = pos.sum().item()
    assert num_pos > 0
    norm = 0.9 * 100 + 0.1 * num_pos
    assert math.isclose(head.loss_normalizer.item(), norm, rel_tol=1e-6)
    x, y = cls[valid], gt_cls[valid]
    p = x.sigmoid()
    pt = p * y + (1 - p) * (1 - y)
    focal = -(0.25 * y + 0.75 * (1 - y)) * (1 - pt) ** 2 * torch.log(pt)
    assert torch.allclose(losses['loss_cls'], focal.sum() / norm, rtol=1e-4)
    assert torch.allclose(losses['loss_reg'], diou_loss_1d(off[pos], gt_reg[pos]).sum() / norm,
                          rtol=1e-5)

    # The EMA keeps moving, and a batch without ground truth still gives a graph.
    empty = [_sample(torch.zeros(0, 2), []), _sample(torch.zeros(0, 2), [])]
    losses = head.loss(feats, mask, empty)
    assert math.isclose(head.loss_normalizer.item(), 0.9 * norm + 0.1, rel_tol=1e-6)
    assert losses['loss_reg'].item() == 0 and losses['loss_reg'].requires_grad


def test_label_smoothing_and_reg_weight():
    torch.manual_seed(0)
    feats, mask = torch.randn(1, 8, 32), torch.ones(1, 32, dtype=torch.bool)
    samples = [_sample([[3.0, 9.0]], [0])]
    plain = _tiny_head()
    state = plain.state_dict()
    smooth = _tiny_head(label_smoothing=0.1,
                        loss_reg=dict(type='DIoULoss1D', reduction='sum', loss_weight=3.0))
    smooth.load_state_dict(state)
    a, b = plain.loss(feats, mask, samples), smooth.loss(feats, mask, samples)
    assert torch.allclose(b['loss_reg'], 3.0 * a['loss_reg'])
    assert not torch.allclose(a['loss_cls'], b['loss_cls'])
    with pytest.raises(ValueError, match="reduction='sum'"):
        _tiny_head(loss_reg=dict(type='DIoULoss1D', reduction='mean'))
