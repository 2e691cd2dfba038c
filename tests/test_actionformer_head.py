"""ActionFormerHead and its blocks: shapes, masking, locality, inference, and a small
overfit run that must find planted segments."""
import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from losa_plugin.models.heads import (MaskedConv1D, MaskedLocalAttention,
                                      MaskedTransformerBlock)
from losa_plugin.utils.segment_ops import pairwise_tiou


def _tiny_head(**kw):
    cfg = dict(type='ActionFormerHead', num_classes=3, in_channels=8, embed_dims=16,
               head_dims=16, arch=(1, 1, 2), n_mha_win_size=5,
               regress_ranges=((0, 4), (4, 8), (8, 10000)), drop_path=0.0)
    cfg.update(kw)
    return MODELS.build(cfg)


def _sample(segments, labels):
    s = ActionDataSample()
    s.gt_instances = InstanceData(segments=torch.as_tensor(segments, dtype=torch.float32),
                                  labels=torch.as_tensor(labels, dtype=torch.long))
    return s


def test_default_head_follows_thumos_actionformer():
    head = MODELS.build(dict(type='ActionFormerHead', num_classes=20, in_channels=32))
    assert head.pad_multiple == 32 and head.strides == [1, 2, 4, 8, 16, 32]
    assert len(head.projection.embed) == 2 and len(head.projection.stem) == 2
    assert len(head.projection.branch) == 5
    assert head.projection.stem[0].attn.window_size == 19
    assert len(head.cls_head.tower) == 2  # 3 layers, the output conv included
    assert torch.allclose(head.cls_head.out_conv.conv.bias.sigmoid(), torch.tensor(0.01))
    # ActionFormer's THUMOS-14 post-processing: per-class soft-NMS, no voting
    assert head.test_cfg['pre_nms_topk'] == 2000 and head.test_cfg['multiclass_nms'] is True
    assert head.test_cfg['nms'] == dict(method='soft', iou_threshold=0.1, sigma=0.5,
                                        min_score=0.001, max_num=200, voting_thresh=0.0)
    assert head.padding == 'actionformer' and head.max_div_factor == 32 * 18
    assert head.projection.stem[0].attn.proj_drop.p == 0.0  # train_cfg.dropout
    assert head.projection.stem[0].drop_path_attn.drop_path.drop_prob == 0.1
    assert head.loss_normalizer.item() == 100.0


def test_forward_shapes_and_length_check():
    head = _tiny_head().eval()
    cls, off, masks = head(torch.randn(2, 8, 32), torch.ones(2, 32, dtype=torch.bool))
    assert [c.shape for c in cls] == [(2, 3, 32), (2, 3, 16), (2, 3, 8)]
    assert [o.shape for o in off] == [(2, 2, 32), (2, 2, 16), (2, 2, 8)]
    assert all((o >= 0).all() for o in off)
    assert [m.shape for m in masks] == [(2, 32), (2, 16), (2, 8)]
    with pytest.raises(ValueError, match='divisible by 4'):
        head(torch.randn(1, 8, 30), torch.ones(1, 30, dtype=torch.bool))
    with pytest.raises(ValueError, match=r'\[B, 8, L\]'):
        head(torch.randn(1, 5, 32), torch.ones(1, 32, dtype=torch.bool))
    with pytest.raises(ValueError, match='regress_ranges'):
        _tiny_head(regress_ranges=((0, 4), (4, 10000)))


def test_masked_conv_zeroes_padding_and_downsamples_mask():
    conv = MaskedConv1D(4, 6, 3, stride=2)
    x = torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(309))
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]]).bool()
    out, out_mask = conv(x, mask[:, None])  # [B, 1, T] masks are accepted too
    assert out_mask.tolist() == [[True, True, True, False]]
    assert out[..., 3].abs().sum() == 0
    x2 = x.clone()
    x2[..., 5:] = 1e3
    assert torch.equal(conv(x2, mask)[0], out)


@pytest.mark.parametrize('padding', ['invariant', 'actionformer'])
@pytest.mark.parametrize('window', [5, -1])
def test_valid_outputs_ignore_padding(window, padding):
    """Valid steps must not depend on what the padded steps hold, and a padded
    sequence must give the same outputs as the same sequence without padding (with
    'actionformer' too: both sit in the same 32-step array, max_div_factor 16)."""
    torch.manual_seed(0)
    head = _tiny_head(n_mha_win_size=window, padding=padding).eval()
    x = torch.randn(2, 8, 64)
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask[1, 32:] = False
    garbage = x.clone()
    garbage[1, :, 32:] = torch.randn(8, 32) * 1e3
    ref, noisy = head(x, mask), head(garbage, mask)
    alone = head(x[1:, :, :32], torch.ones(1, 32, dtype=torch.bool))
    for lvl, m in enumerate(ref[2]):
        n_valid = int(m[1].sum())
        assert n_valid == 32 >> lvl
        for a, b, c in zip(ref[:2], noisy[:2], alone[:2]):
            assert torch.allclose(a[lvl][1, :, :n_valid], b[lvl][1, :, :n_valid], atol=1e-5)
            assert torch.allclose(a[lvl][1, :, :n_valid], c[lvl][0], atol=1e-5)
        assert torch.allclose(ref[0][lvl][0], noisy[0][lvl][0])  # other sample untouched


def test_local_attention_only_sees_its_window():
    torch.manual_seed(0)
    attn = MaskedLocalAttention(8, num_heads=2, window_size=5).eval()
    x, mask = torch.randn(1, 8, 40), torch.ones(1, 40, dtype=torch.bool)
    y = x.clone()
    y[..., 20] += 5.0
    a, b = attn(x, mask)[0], attn(y, mask)[0]
    changed = ((a - b).abs().amax(1)[0] > 1e-6).nonzero().flatten().tolist()
    # window radius 2 plus the depthwise conv's radius 1
    assert changed and min(changed) >= 17 and max(changed) <= 23
    glob = MaskedLocalAttention(8, num_heads=2, window_size=-1).eval()
    glob.load_state_dict(attn.state_dict())
    assert (glob(x, mask)[0] - glob(y, mask)[0])[..., 0].abs().max() > 1e-6
    with pytest.raises(ValueError, match='odd'):
        MaskedLocalAttention(8, 2, window_size=4)


def test_downsampling_block_halves_sequence_and_mask():
    blk = MaskedTransformerBlock(8, num_heads=2, window_size=5, stride=2).eval()
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, :16], mask[1, :7] = True, True
    x = torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(310))
    out, out_mask = blk(x, mask)
    assert out.shape == (2, 8, 8)
    assert torch.equal(out_mask, mask[:, ::2])
    assert out[1, :, 4:].abs().sum() == 0


def test_predict_returns_sorted_grid_unit_segments():
    torch.manual_seed(0)
    head = _tiny_head(test_cfg=dict(nms=dict(max_num=7))).eval()
    mask = torch.ones(2, 32, dtype=torch.bool)
    mask[1, 16:] = False
    results = head.predict(torch.randn(2, 8, 32), mask, None)
    assert len(results) == 2
    for r in results:
        assert 0 < len(r) <= 7
        assert r.segments.shape == (len(r), 2) and r.labels.dtype == torch.long
        assert (r.segments[:, 1] - r.segments[:, 0] > 0.05).all()
        assert torch.all(r.scores[:-1] >= r.scores[1:])
    # without NMS every candidate above the threshold survives (top-k per level)
    x, full = torch.randn(1, 8, 32), torch.ones(1, 32, dtype=torch.bool)
    raw = _tiny_head(test_cfg=dict(nms=None, duration_thresh=-1.0)).eval()
    raw.load_state_dict(head.state_dict())
    r = raw.predict(x, full)[0]
    assert len(r) == (32 + 16 + 8) * 3  # prior 0.01 > 0.001: all (point, class) pairs
    short = _tiny_head(test_cfg=dict(nms=None)).eval()
    short.load_state_dict(head.state_dict())
    long_enough = (r.segments[:, 1] - r.segments[:, 0]) > 0.05
    assert len(short.predict(x, full)[0]) == int(long_enough.sum())
    with pytest.raises(ValueError, match='unknown test_cfg'):
        _tiny_head(test_cfg=dict(pre_nms_tresh=0.1))


def _planted_batch(num_classes=3, channels=16, length=64, batch=4, seed=0):
    """Noise features with class-specific patterns added over two segments each."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(num_classes, channels, generator=g) * 1.5
    feats = torch.randn(batch, channels, length, generator=g) * 0.5
    samples = []
    for b in range(batch):
        s1 = int(torch.randint(0, 10, (1, ), generator=g))
        e1 = s1 + int(torch.randint(4, 20, (1, ), generator=g))
        s2 = e1 + 3 + int(torch.randint(0, 6, (1, ), generator=g))
        e2 = min(s2 + int(torch.randint(4, 24, (1, ), generator=g)), length - 2)
        segs, labels = [], []
        for s, e in ((s1, e1), (s2, e2)):
            k = int(torch.randint(0, num_classes, (1, ), generator=g))
            feats[b, :, s:e + 1] += patterns[k][:, None]
            segs.append([s, e])
            labels.append(k)
        samples.append(_sample(segs, labels))
    return feats, samples


def test_overfits_planted_segments():
    feats, samples = _planted_batch()
    mask = torch.ones(feats.shape[0], feats.shape[-1], dtype=torch.bool)
    torch.manual_seed(0)
    head = _tiny_head(in_channels=16, embed_dims=32, head_dims=32, n_mha_win_size=9)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.0)
    head.train()
    first = None
    for _ in range(150):
        losses = head.loss(feats, mask, samples)
        loss = sum(losses.values())
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    head.eval()
    for sample, pred in zip(samples, head.predict(feats, mask, samples)):
        centres = pred.segments.mean(1)
        for seg, label in zip(sample.gt_instances.segments, sample.gt_instances.labels):
            inside = (centres >= seg[0]) & (centres <= seg[1])
            assert inside.any()
            top = pred.scores.masked_fill(~inside, -1).argmax()
            assert pred.labels[top] == label
            assert pairwise_tiou(pred.segments[top:top + 1], seg[None]).item() >= 0.5
