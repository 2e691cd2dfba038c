"""LastLayerNeck (F_N): the backbone-pooled last layer, token masks, projection."""
import pytest
import torch

from losa_plugin.models.backbones import TapOutput
from losa_plugin.models.backbones.tap_output import token_mask
from mmaction.registry import MODELS


def _taps(b=2, t=3, tn=4, h=3, w=2, c=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    inter = torch.randn(b, t, tn, h, w, 5, generator=g)
    last = torch.randn(b, t, tn, h, w, c, generator=g)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, -1] = False
    return TapOutput((inter, last), (4, 9), mask)


def test_pools_space_of_last_tap_and_expands_mask():
    taps = _taps()
    neck = MODELS.build(dict(type='LastLayerNeck'))
    feats, mask = neck(taps)
    b, t, tn, h, w, c = taps.feats[-1].shape
    assert feats.shape == (b, c, t * tn) and mask.shape == (b, t * tn)
    assert mask.dtype == torch.bool
    # Element (b, c, t*T_N + n) is the spatial mean of clip t, token n.
    last = taps.feats[-1]
    for bi, ti, ni in [(0, 0, 0), (0, 2, 3), (1, 1, 2)]:
        expected = last[bi, ti, ni].reshape(h * w, c).mean(0)
        torch.testing.assert_close(feats[bi, :, ti * tn + ni], expected)
        assert bool(mask[bi, ti * tn + ni]) == bool(taps.clip_mask[bi, ti])
    # Padded clip: masked out and zero.
    assert not mask[1, (t - 1) * tn:].any() and mask[1, :(t - 1) * tn].all()
    assert torch.count_nonzero(feats[1, :, (t - 1) * tn:]) == 0


def test_reduced_input_passes_through_and_garbage_in_padding_is_ignored():
    taps = _taps()
    pooled = taps.feats[-1].mean(dim=(3, 4))
    neck = MODELS.build(dict(type='LastLayerNeck'))
    out6, _ = neck(taps)
    out4, _ = neck(TapOutput((pooled,), (9,), taps.clip_mask))
    torch.testing.assert_close(out4, out6)
    dirty = pooled.clone()
    dirty[1, -1] = float('nan')
    out_dirty, _ = neck(TapOutput((dirty,), (9,), taps.clip_mask))
    assert torch.equal(out_dirty, out4)


def test_projection_when_out_channels_differ():
    taps = _taps()
    neck = MODELS.build(dict(type='LastLayerNeck', in_channels=6, out_channels=4))
    feats, _ = neck(taps)
    assert feats.shape[1] == 4
    pooled = taps.feats[-1].mean(dim=(3, 4))[0, 1, 2]
    torch.testing.assert_close(feats[0, :, 1 * 4 + 2], neck.proj(pooled))
    assert sum(p.numel() for p in MODELS.build(dict(type='LastLayerNeck')).parameters()) == 0


def test_bad_input_is_reported():
    neck = MODELS.build(dict(type='LastLayerNeck', in_channels=7))
    with pytest.raises(ValueError, match='channels'):
        neck(_taps())
    with pytest.raises(ValueError, match=r'\[B, T, T_N'):
        MODELS.build(dict(type='LastLayerNeck'))(
            TapOutput((torch.zeros(2, 3, 4, 5, 6),), (1,), torch.ones(2, 3, dtype=torch.bool)))
    with pytest.raises(ValueError, match='needs in_channels'):
        MODELS.build(dict(type='LastLayerNeck', out_channels=4))
    taps = _taps()
    with pytest.raises(ValueError, match='pooled_last'):
        MODELS.build(dict(type='LastLayerNeck'))(
            taps._replace(pooled_last=torch.zeros(2, 3, 4, 5)))


def test_backbone_pooled_last_layer_is_used_when_given():
    """F_N is what the backbone's own output pooling gives (e.g. VideoMAEv2's fc_norm),
    not a re-computed mean of the tap."""
    taps = _taps()
    pooled = torch.randn(2, 3, 4, 6, generator=torch.Generator().manual_seed(308))
    feats, mask = MODELS.build(dict(type='LastLayerNeck'))(taps._replace(pooled_last=pooled))
    expected = pooled.masked_fill(~taps.clip_mask[:, :, None, None], 0.0)
    torch.testing.assert_close(feats, expected.flatten(1, 2).transpose(1, 2), rtol=0, atol=0)


def test_tokens_of_padding_frames_in_a_partly_padded_clip_are_masked():
    """24 valid frames of two 16-frame clips with 8 tokens a clip: 8 + 4 = 12 valid
    tokens (a token covers 2 frames and is valid when one of them is)."""
    g = torch.Generator().manual_seed(3)
    last = torch.randn(1, 2, 8, 2, 2, 6, generator=g)
    frames = torch.arange(32).view(1, 2, 16) < 24
    taps = TapOutput((last, ), (12, ), torch.ones(1, 2, dtype=torch.bool), frame_mask=frames)
    feats, mask = MODELS.build(dict(type='LastLayerNeck'))(taps)
    assert mask.tolist() == [[True] * 12 + [False] * 4]
    assert torch.count_nonzero(feats[0, :, 12:]) == 0 and (feats[0, :, :12] != 0).all()
    # 23 valid frames: token 11 holds frames 22 (valid) and 23 (padding) -> still valid
    odd = taps._replace(frame_mask=torch.arange(32).view(1, 2, 16) < 23)
    assert token_mask(odd, 8).flatten().tolist() == [True] * 12 + [False] * 4
    # T_i = 2 tokens a clip (SlowFast's slow steps): 8 frames each
    assert token_mask(taps, 2).flatten().tolist() == [True, True, True, False]
