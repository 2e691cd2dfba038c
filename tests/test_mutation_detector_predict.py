"""Inference outputs against hand-computed values (issue 18, mutations 1 and 2).

* ``TALDetector.predict`` with a stub head that returns known grid-unit segments:
  seconds by hand from ``(index * stride + offset) / fps`` (docs/contracts.md), clipped
  to ``[0, duration]``; scores and labels passed through unchanged.
* ``ActionFormerHead.predict`` with a stubbed forward (chosen logits and offsets at
  chosen pyramid points): segments ``[t - o_l * s, t + o_r * s]``, score
  ``sigmoid(logit)``, label = the class channel, invalid points ignored.
"""
import math

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData
from torch import nn


class _StubHead(nn.Module):
    """Returns the given grid-unit detections for each sample (list per sample)."""
    pad_multiple = 1

    def __init__(self, per_sample):
        super().__init__()
        self.per_sample = per_sample
        self.seen = None

    def predict(self, feats, mask, data_samples):
        self.seen = (feats.shape, mask.clone())
        return [InstanceData(segments=torch.tensor(segs, dtype=torch.float32),
                             scores=torch.tensor(scores), labels=torch.tensor(labels))
                for segs, scores, labels in self.per_sample]


def _sample(valid_len, stride, offset, fps, duration):
    s = ActionDataSample()
    meta = dict(video_id='v', valid_len=valid_len, feature_stride=stride,
                window_offset=offset, fps=fps)
    if duration is not None:
        meta['duration'] = duration
    s.set_metainfo(meta)
    return s


def _detector(per_sample):
    return MODELS.build(dict(type='TALDetector', head=dict(type=_StubHead,
                                                           per_sample=per_sample)))


def test_detector_converts_grid_units_to_seconds_by_hand():
    per_sample = [
        ([[0.0, 1.0], [2.5, 10.0], [-3.0, 1.0], [20.0, 30.0]], [0.9, 0.8, 0.7, 0.6], [3, 0, 1, 2]),
        ([[1.0, 3.0], [0.0, 0.5]], [0.5, 0.4], [1, 1]),
        ([[-1.0, 2.0], [100.0, 101.0]], [0.3, 0.2], [0, 4]),
    ]
    model = _detector(per_sample).eval()
    samples = [_sample(6, 4.0, 8.0, 25.0, 3.0),      # stride 4 frames, cell 0 at frame 8
               _sample(4, 16.0, 24.5, 30.0, 2.0),    # fractional offset, end clipped
               _sample(5, 2.0, 1.0, 10.0, None)]     # no duration: only clipped at 0
    feats = [torch.randn(3, n, generator=torch.Generator().manual_seed(n)) for n in (6, 4, 5)]
    data = model.data_preprocessor(dict(inputs=feats, data_samples=samples))
    out = model(**data, mode='predict')
    # the head saw the padded batch and each sample's valid steps
    assert tuple(model.head.seen[0]) == (3, 3, 6)
    assert model.head.seen[1].tolist() == [[True] * 6, [True] * 4 + [False] * 2,
                                           [True] * 5 + [False]]
    expected = [
        # (i * 4 + 8) / 25: 0 -> .32, 1 -> .48, 2.5 -> .72, 10 -> 1.92, -3 -> -.16 -> 0,
        # 20 -> 3.52 -> 3.0 (duration), 30 -> 5.12 -> 3.0
        [[0.32, 0.48], [0.72, 1.92], [0.0, 0.48], [3.0, 3.0]],
        # (i * 16 + 24.5) / 30: 1 -> 40.5/30, 3 -> 72.5/30 > 2 -> 2.0, 0 -> 24.5/30, .5 -> 32.5/30
        [[40.5 / 30, 2.0], [24.5 / 30, 32.5 / 30]],
        # (i * 2 + 1) / 10: -1 -> -.1 -> 0, 2 -> .5, 100 -> 20.1, 101 -> 20.3 (no upper clip)
        [[0.0, 0.5], [20.1, 20.3]],
    ]
    for sample, exp, (_, scores, labels) in zip(out, expected, per_sample):
        pred = sample.pred_instances
        torch.testing.assert_close(pred.segments, torch.tensor(exp), rtol=0, atol=1e-6)
        assert pred.labels.tolist() == labels  # labels pass through unchanged
        torch.testing.assert_close(pred.scores, torch.tensor(scores), rtol=0, atol=0)


def _stub_forward(head, length, planted, invalid_from=None):
    """Replace ``head.forward`` by fixed outputs: logits -20 (score ~2e-9, below every
    threshold) except ``planted[(level, point, cls)] = (logit, o_l, o_r)``."""
    sizes = [length // s for s in head.strides]
    cls = [torch.full((1, head.num_classes, n), -20.0) for n in sizes]
    off = [torch.zeros(1, 2, n) for n in sizes]
    masks = [torch.ones(1, n, dtype=torch.bool) for n in sizes]
    for (lvl, pt, c), (logit, ol, orr) in planted.items():
        cls[lvl][0, c, pt] = logit
        off[lvl][0, :, pt] = torch.tensor([ol, orr])
    if invalid_from is not None:
        for lvl, s in enumerate(head.strides):
            masks[lvl][0, invalid_from // s:] = False
    head.forward = lambda feats, mask: (cls, off, masks)


def _head(**test_cfg):
    return MODELS.build(dict(type='ActionFormerHead', num_classes=3, in_channels=8,
                             embed_dims=16, head_dims=16, arch=(1, 1, 2), n_mha_win_size=5,
                             regress_ranges=((0, 4), (4, 8), (8, 10000)), drop_path=0.0,
                             test_cfg=test_cfg or None)).eval()


@pytest.mark.parametrize('nms', ['soft', None])
def test_head_predict_labels_segments_and_scores_by_hand(nms):
    head = _head(nms=None) if nms is None else _head()
    assert head.strides == [1, 2, 4]
    planted = {(0, 3, 2): (2.0, 1.5, 0.5),    # t=3, stride 1: [1.5, 3.5], class 2
               (1, 2, 0): (0.0, 1.0, 2.0),    # t=4, stride 2: [2, 8], class 0
               (2, 1, 1): (-1.0, 0.5, 0.5),   # t=4, stride 4: [2, 6], class 1
               (0, 13, 1): (5.0, 1.0, 1.0),   # t=13: an invalid point (below)
               (1, 7, 0): (5.0, 1.0, 1.0)}    # t=14: invalid too
    _stub_forward(head, 16, planted, invalid_from=12)
    r = head.predict(torch.zeros(1, 8, 16), torch.ones(1, 16, dtype=torch.bool))[0]
    sig = [1 / (1 + math.exp(-x)) for x in (2.0, 0.0, -1.0)]
    # one detection per class: per-class soft-NMS changes nothing; best first
    assert r.labels.tolist() == [2, 0, 1]
    torch.testing.assert_close(r.segments, torch.tensor([[1.5, 3.5], [2.0, 8.0], [2.0, 6.0]]))
    torch.testing.assert_close(r.scores, torch.tensor(sig), rtol=1e-6, atol=0)


def test_head_predict_class_agnostic_nms_keeps_labels():
    """Class-agnostic soft-NMS: [2, 8] (class 0, .5) decays by exp(-tIoU^2 / .5) with
    tIoU([1.5, 3.5], [2, 8]) = 1.5 / 6.5 after the class-2 detection; labels ride along."""
    head = _head(multiclass_nms=False)
    _stub_forward(head, 8, {(0, 3, 2): (2.0, 1.5, 0.5), (1, 2, 0): (0.0, 1.0, 2.0)})
    r = head.predict(torch.zeros(1, 8, 8), torch.ones(1, 8, dtype=torch.bool))[0]
    assert r.labels.tolist() == [2, 0]
    tiou = 1.5 / 6.5
    torch.testing.assert_close(
        r.scores, torch.tensor([1 / (1 + math.exp(-2.0)), 0.5 * math.exp(-tiou ** 2 / 0.5)]),
        rtol=1e-6, atol=0)


def test_detector_pads_to_the_heads_multiple_and_refuses_frames_without_backbone():
    """L = 5 steps with a head that needs multiples of 4: zeros appended to 8, the
    mask False there; 5-D inputs without a backbone are refused by name."""
    model = _detector([([[0.0, 1.0]], [0.5], [0])] * 2).eval()
    model.head.pad_multiple = 4
    feats = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5) + 1
    samples = [_sample(5, 1.0, 0.0, 1.0, None), _sample(4, 1.0, 0.0, 1.0, None)]
    out, mask = model.extract_feat(feats, samples)
    assert out.shape == (2, 3, 8)
    torch.testing.assert_close(out[..., :5], feats, rtol=0, atol=0)
    assert torch.count_nonzero(out[..., 5:]) == 0
    assert mask.tolist() == [[True] * 5 + [False] * 3, [True] * 4 + [False] * 4]
    with pytest.raises(ValueError, match=r'^TALDetector: frame inputs \[B, 3, F, H, W\] need a '
                                         r'backbone$'):
        model.extract_feat(torch.zeros(1, 3, 4, 8, 8), samples[:1])
