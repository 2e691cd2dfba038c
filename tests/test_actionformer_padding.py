"""The two padding modes of ActionFormerHead, against hand computations and against an
independent re-implementation of ActionFormer's forward written from its definitions
(libs/modeling/{blocks,backbones,necks,meta_archs}.py of actionformer_release):

* MaskedConv1D convolves its input as it is and only masks its output;
* LayerNorm is applied to every step, so a padded step (zero after a masked conv)
  holds the norm's bias, which the next conv reads;
* the stride-2 skip is ``nn.MaxPool1d(3, 2, 1)`` on the block input, whose padded
  steps are 0; only steps beyond the padded array are the pool's own -inf padding;
* inputs are zero-padded to ``max_seq_len`` (or the next multiple of
  ``max_div_factor``) before any of this."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS

from losa_plugin.models.heads import MaskedConv1D, MaskedConvHead, MaskedTransformerBlock
from losa_plugin.models.heads.actionformer_padding import array_lengths, max_div_factor


# ------------------------------------------------------------------ hand cases
def test_masked_conv_head_reads_layernorm_bias_at_padded_step():
    """Tower conv = identity, LayerNorm bias (0.5, -0.3), output conv reads channel 0
    of the next step. At the last valid step ActionFormer's output is
    relu(LN(0))[0] = relu(0.5) = 0.5; the padding-invariant one reads 0."""
    head = MaskedConvHead(2, 2, 1, num_layers=2, kernel_size=3)
    with torch.no_grad():
        tower = head.tower[0].conv.weight
        tower.zero_()
        tower[:, :, 1] = torch.eye(2)
        head.norms[0].weight.fill_(1.0)
        head.norms[0].bias.copy_(torch.tensor([0.5, -0.3]))
        head.out_conv.conv.weight.zero_()
        head.out_conv.conv.weight[0, 0, 2] = 1.0  # reads step t + 1
        head.out_conv.conv.bias.zero_()
    x = torch.tensor([[[3.0, 2.0, 9.0, 9.0], [1.0, 0.0, 9.0, 9.0]]])
    mask = torch.tensor([[True, True, False, False]])
    array = torch.ones(1, 4, dtype=torch.bool)
    af = head(x, mask, array)[0, 0]
    inv = head(x, mask)[0, 0]
    # step 0 reads step 1: LN((2, 0)) = (1, -1) / sqrt(1 + 1e-5), + bias, relu -> channel 0
    step1 = 1.0 / math.sqrt(1.0 + 1e-5) + 0.5
    assert af.tolist() == pytest.approx([step1, 0.5, 0.0, 0.0], abs=1e-6)
    assert inv.tolist() == pytest.approx([step1, 0.0, 0.0, 0.0], abs=1e-6)


def test_masked_conv_reads_padded_values_inside_the_array_only():
    conv = MaskedConv1D(1, 1, 3, bias=False)
    with torch.no_grad():
        conv.conv.weight.copy_(torch.tensor([[[1.0, 10.0, 100.0]]]))
    x = torch.tensor([[[1.0, 2.0, 7.0, 5.0]]])
    mask = torch.tensor([[True, True, False, False]])
    # ActionFormer: step 1 = 1*1 + 10*2 + 100*7 (the padded 7 is read)
    out = conv(x, mask, torch.tensor([[True, True, True, True]]))[0][0, 0]
    assert out.tolist() == [1 * 10 + 2 * 100, 1 + 20 + 700, 0.0, 0.0]
    # beyond the array (step 2 outside it) the conv's own zero padding is read
    out = conv(x, mask, torch.tensor([[True, True, False, False]]))[0][0, 0]
    assert out.tolist() == [210.0, 21.0, 0.0, 0.0]
    assert torch.equal(conv(x, mask)[0], conv(x, mask, mask)[0])


def _skip_only_block():
    """A stride-2 block whose attention and MLP branches output 0: out = pool(x)."""
    blk = MaskedTransformerBlock(2, num_heads=1, window_size=3, stride=2).eval()
    with torch.no_grad():
        blk.attn.out_proj.weight.zero_()
        blk.attn.out_proj.bias.zero_()
        blk.mlp[3].weight.zero_()
        blk.mlp[3].bias.zero_()
    return blk


def test_stride2_max_pool_sees_padded_steps_as_zero():
    """ActionFormer's skip is MaxPool1d(3, 2, 1) on the block input, whose padded steps
    are 0 (block outputs are masked): output step 1 (inputs 1, 2, 3) with step 3
    padded is max(-2, -1, 0) = 0 there, max(-2, -1) = -1 when padding is ignored.
    Beyond the padded array the pool's own -inf applies."""
    blk = _skip_only_block()
    x = torch.tensor([[[-4.0, -2.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0]] * 2])
    mask = torch.tensor([[True, True, True, False, False, False, False, False]])
    array = torch.ones(1, 8, dtype=torch.bool)
    af, _ = blk(x, mask, array)
    inv, _ = blk(x, mask)
    # output 0 reads (pad -inf, -4, -2); output 1 reads (-2, -1, x3 = 0)
    assert af[0, 0].tolist() == [-2.0, 0.0, 0.0, 0.0]
    assert inv[0, 0].tolist() == [-2.0, -1.0, 0.0, 0.0]
    # four valid steps, array of four: output 2 reads (-3, beyond, beyond) = -3
    x4 = torch.tensor([[[-4.0, -2.0, -1.0, -3.0, 0.0, 0.0, 0.0, 0.0]] * 2])
    mask4 = torch.tensor([[True] * 4 + [False] * 4])
    out, _ = blk(x4, mask4, mask4.clone())
    assert out[0, 0].tolist() == [-2.0, -1.0, 0.0, 0.0]  # output 2 invalid: masked
    out6, _ = blk(x4, torch.tensor([[True] * 5 + [False] * 3]),
                  torch.tensor([[True] * 6 + [False] * 2]))
    assert out6[0, 0, 2].item() == 0.0  # max(-3, x4 = 0, x5 = 0)


def test_padded_array_lengths_follow_actionformer():
    # THUMOS-14: windows 19 on 6 levels -> max_div_factor 32 * 18 = 576
    assert max_div_factor([1, 2, 4, 8, 16, 32], [19] * 6) == 576
    # ActivityNet: [7] * 5 + global -> max(16 * 6, 32) = 96
    assert max_div_factor([1, 2, 4, 8, 16, 32], [7, 7, 7, 7, 7, -1]) == 96
    valid = torch.tensor([1, 100, 2304, 2305, 3000])
    assert array_lengths(valid, 2304, 576).tolist() == [2304, 2304, 2304, 2880, 3456]
    assert array_lengths(valid, None, 576).tolist() == [576, 576, 2304, 2880, 3456]
    assert array_lengths(torch.tensor([150, 192, 193]), 192, 96).tolist() == [192, 192, 288]


# ---------------------------------------------- reference ActionFormer forward
def _ln(x, norm):
    return F.layer_norm(x.T, (x.shape[0], ), norm.weight, norm.bias, norm.eps).T


def _conv(x, conv, mask, readable):
    """ActionFormer's MaskedConv1D on [C, T]: the input as it is inside the padded
    array (zero beyond it, the conv's own padding), output masked."""
    c = conv.conv
    out = F.conv1d((x * readable)[None], c.weight, c.bias, c.stride, c.padding,
                   groups=c.groups)[0]
    m = mask[::c.stride[0]]
    return out * m, m


def _attention(h, attn, mask, readable, window):
    q, qm = _conv(h, attn.q_conv, mask, readable)
    k, _ = _conv(h, attn.k_conv, mask, readable)
    v, _ = _conv(h, attn.v_conv, mask, readable)
    q = F.conv1d(_ln(q, attn.q_norm)[None], attn.q_proj.weight, attn.q_proj.bias)[0]
    k = F.conv1d(_ln(k, attn.k_norm)[None], attn.k_proj.weight, attn.k_proj.bias)[0]
    v = F.conv1d(_ln(v, attn.v_norm)[None], attn.v_proj.weight, attn.v_proj.bias)[0]
    heads, t = attn.num_heads, q.shape[1]
    d = q.shape[0] // heads
    q, k, v = (z.reshape(heads, d, t).transpose(1, 2) for z in (q, k, v))
    scores = q @ k.transpose(1, 2) / math.sqrt(d)  # [h, T, T]
    idx = torch.arange(t)
    allowed = qm[None, :].expand(t, t).clone()  # keys must be valid
    if window > 1:
        allowed &= (idx[:, None] - idx[None, :]).abs() <= window // 2
    probs = scores.masked_fill(~allowed, float('-inf')).softmax(-1)
    probs = probs.masked_fill(~qm[None, :, None], 0.0)  # padded queries: no output
    out = (probs @ v).transpose(1, 2).reshape(heads * d, t)
    out = F.conv1d(out[None], attn.out_proj.weight, attn.out_proj.bias)[0]
    return out * qm, qm


def _block(x, blk, mask, readable, window):
    attn, qm = _attention(_ln(x, blk.norm1), blk.attn, mask, readable, window)
    if blk.stride > 1:  # MaxPool1d(s + 1, s, (s + 1) // 2) on x as it is
        src = x.masked_fill(~readable, float('-inf'))
        skip = F.max_pool1d(src[None], blk.stride + 1, blk.stride, (blk.stride + 1) // 2)[0]
    else:
        skip = x
    out = torch.where(qm, skip, 0.0) + blk.drop_path_attn.scale[0] * attn  # skip * mask
    h = _ln(out, blk.norm2)
    mlp = F.conv1d(F.gelu(F.conv1d(h[None], blk.mlp[0].weight, blk.mlp[0].bias)),
                   blk.mlp[3].weight, blk.mlp[3].bias)[0]
    return out + blk.drop_path_mlp.scale[0] * (mlp * qm), qm


def _tower(x, head, mask, readable):
    for conv, norm in zip(head.tower, head.norms):
        x, _ = _conv(x, conv, mask, readable)
        x = torch.relu(_ln(x, norm))
    return _conv(x, head.out_conv, mask, readable)[0]


def reference_forward(head, x, valid, array, windows, invariant=False):
    """ActionFormer's forward of one sample ``x [C, n]`` zero-padded to ``array``
    steps; ``invariant=True`` instead zeroes every padded step a kernel reads."""
    mask = torch.arange(array) < valid
    feats = F.pad(x[:, :valid], (0, array - valid))
    readable = mask.clone() if invariant else torch.ones(array, dtype=torch.bool)
    proj = head.projection
    for conv, norm in zip(proj.embed, proj.embed_norm):
        feats, mask = _conv(feats, conv, mask, readable)
        feats = torch.relu(_ln(feats, norm)) * readable
    for blk in proj.stem:
        feats, mask = _block(feats, blk, mask, readable, windows[0])
    levels, masks = [feats], [mask]
    for i, blk in enumerate(proj.branch):
        feats, mask = _block(feats, blk, mask, readable, windows[i + 1])
        readable = readable[::2]
        levels.append(feats)
        masks.append(mask)
    cls, off = [], []
    for lvl, (f, m) in enumerate(zip(levels, masks)):
        r = m if invariant else torch.ones(m.shape[0], dtype=torch.bool)  # whole array
        f = _ln(f, head.fpn_norms[lvl])
        cls.append(_tower(f, head.cls_head, m, r))
        off.append(torch.relu(_tower(f, head.reg_head, m, r) * head.scales[lvl]))
    return cls, off, masks


def _random_head(padding, windows, max_seq_len=None):
    torch.manual_seed(0)
    head = MODELS.build(dict(type='ActionFormerHead', num_classes=3, in_channels=6,
                             embed_dims=8, head_dims=8, num_heads=2, arch=(2, 2, 3),
                             n_mha_win_size=windows, drop_path=0.1, padding=padding,
                             max_seq_len=max_seq_len,
                             regress_ranges=((0, 4), (4, 8), (8, 16), (16, 10000))))
    with torch.no_grad():  # non-trivial norms, biases and LayerScales
        for p in head.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return head.eval()


@pytest.mark.parametrize('windows', [[5, 5, 5, 5], [5, 5, 5, -1]])
def test_actionformer_padding_matches_reference(windows):
    """padding='actionformer' = ActionFormer's forward on its padded array: for each
    sample of a batch, zero-padded to max_seq_len = 48 (or the next multiple of
    max_div_factor 8 * 4 = 32 when longer), whatever the batch's own padding."""
    head = _random_head('actionformer', windows, max_seq_len=64)
    div = max_div_factor(head.strides, windows)
    assert div == (32 if windows[-1] == 5 else 16)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 6, 96, generator=g)
    valid = [96, 37, 64]  # over-length (next multiple of div), padded, exactly full
    mask = torch.arange(96)[None] < torch.tensor(valid)[:, None]
    cls, off, masks = head(x, mask)
    for b, n in enumerate(valid):
        array = 64 if n <= 64 else -(-n // div) * div
        r_cls, r_off, r_masks = reference_forward(head, x[b], n, array, windows)
        for lvl in range(4):
            k = int(r_masks[lvl].sum())
            assert int(masks[lvl][b].sum()) == k
            torch.testing.assert_close(cls[lvl][b, :, :k], r_cls[lvl][:, :k], atol=2e-5,
                                       rtol=1e-5)
            torch.testing.assert_close(off[lvl][b, :, :k], r_off[lvl][:, :k], atol=2e-5,
                                       rtol=1e-5)


def test_invariant_padding_matches_reference_and_differs_at_the_end():
    windows = [5, 5, 5, 5]
    af = _random_head('actionformer', windows, max_seq_len=64)
    inv = _random_head('invariant', windows, max_seq_len=64)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 6, 64, generator=g)
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask[1, 40:] = False
    c_inv, _, masks = inv(x, mask)
    c_af, _, _ = af(x, mask)
    # the padded sample without any padding: same valid outputs in 'invariant' mode
    alone = inv(x[1:, :, :40], torch.ones(1, 40, dtype=torch.bool))[0]
    r_cls, _, _ = reference_forward(inv, x[1], 40, 64, windows, invariant=True)
    for lvl in range(4):
        k = int(masks[lvl][1].sum())
        torch.testing.assert_close(c_inv[lvl][1, :, :k], r_cls[lvl][:, :k], atol=2e-5,
                                   rtol=1e-5)
        torch.testing.assert_close(c_inv[lvl][1, :, :k], alone[lvl][0, :, :k], atol=2e-5,
                                   rtol=1e-5)
    # a full sample is the same in both modes; the padded one differs at its end
    torch.testing.assert_close(c_af[0][0], c_inv[0][0], atol=2e-5, rtol=1e-5)
    assert (c_af[0][1, :, 39] - c_inv[0][1, :, 39]).abs().max() > 1e-3


def test_actionformer_mode_needs_prefix_masks():
    head = _random_head('actionformer', [5, 5, 5, 5])
    mask = torch.ones(1, 32, dtype=torch.bool)
    mask[0, 3] = False
    with pytest.raises(ValueError, match='prefix'):
        head(torch.randn(1, 6, 32), mask)
    with pytest.raises(ValueError, match='padding must be one of'):
        _random_head('zeros', [5, 5, 5, 5])
    with pytest.raises(ValueError, match='max_seq_len=40 must be divisible'):
        _random_head('actionformer', [5, 5, 5, 5], max_seq_len=40)


def test_absolute_position_embedding_as_actionformer():
    """get_sinusoid_encoding(n, d) / sqrt(d): channel 2i = sin(t / 10000^(2i/d)),
    2i + 1 the cosine; added after the embedding at valid steps; an array longer
    than max_seq_len reads the table resampled to its length (linear,
    align_corners=False), as ActionFormer does at test time."""
    from losa_plugin.models.heads.actionformer_projection import sinusoid_table
    table = sinusoid_table(5, 4)
    t = torch.arange(5.0)
    expected = torch.stack([t.sin(), t.cos(), (t / 100).sin(), (t / 100).cos()])
    torch.testing.assert_close(table, expected)

    proj = MODELS.build(dict(type='ActionFormerProjection', in_channels=4, embed_dims=4,
                             arch=(1, 0, 1), window_size=-1, use_abs_pe=True,
                             max_seq_len=8, drop_path=0.0))
    torch.testing.assert_close(proj.pos_embed, sinusoid_table(8, 4) / 2.0)
    x = torch.zeros(2, 4, 16)
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[0, 6:] = False  # 6 valid steps in an array of 8
    with torch.no_grad():
        pe = proj._position_embedding(x, mask, torch.tensor([8, 16]))
    torch.testing.assert_close(pe[0, :, :6], sinusoid_table(8, 4)[:, :6] / 2.0)
    assert pe[0, :, 6:].abs().sum() == 0  # padded steps: nothing added
    resampled = F.interpolate((sinusoid_table(8, 4) / 2.0)[None], size=16, mode='linear',
                              align_corners=False)[0]
    torch.testing.assert_close(pe[1], resampled)
    with pytest.raises(ValueError, match='use_abs_pe needs max_seq_len'):
        MODELS.build(dict(type='ActionFormerProjection', in_channels=4, embed_dims=4,
                          use_abs_pe=True))
