"""The short- and long-range adapters and their bottleneck attention, against
hand-written references."""
import math

import pytest
import torch

from losa_plugin.models.necks import (BottleneckCrossAttention, LongRangeAdapter,
                                      ShortRangeAdapter)


def _adapter_pair(c=8, r=1, pos=True, seed=0, cq=None, output='residual'):
    torch.manual_seed(seed)
    return (ShortRangeAdapter(c, 2, 0.5, short_range_clips=r, pos_encoding=pos,
                              query_channels=cq, output=output),
            LongRangeAdapter(c, 2, 0.5, pos_encoding=pos, query_channels=cq, output=output))


def _masks(clip_mask, ti, tn):
    """Token masks of queries ``[B, T, T_i]`` and keys ``[B, T, T_N]`` from clips."""
    return (clip_mask[..., None].expand(-1, -1, ti), clip_mask[..., None].expand(-1, -1, tn))


def _hand_attention(a, q, kv, key_mask_flat):
    """Softmax attention written out: ``q [B, Lq, C_q]``, ``kv [B, Lk, C]``."""
    b, lq, lk, h = q.shape[0], q.shape[1], kv.shape[1], a.n_heads
    qq = a.q_proj(q).reshape(b, lq, h, -1).transpose(1, 2)
    kk = a.k_proj(kv).reshape(b, lk, h, -1).transpose(1, 2)
    vv = a.v_proj(kv).reshape(b, lk, h, -1).transpose(1, 2)
    logits = qq @ kk.transpose(-1, -2) / math.sqrt(qq.shape[-1])
    attn = logits.masked_fill(~key_mask_flat[:, None, None], float('-inf')).softmax(-1)
    return a.out_proj((attn @ vv).transpose(1, 2).reshape(b, lq, -1))


@pytest.mark.parametrize('output', ['residual', 'attention'])
@pytest.mark.parametrize('cq', [8, 6, 12])  # query width = C, narrower, wider ('tap')
def test_short_range_is_local_and_long_range_is_not(cq, output):
    short, long = _adapter_pair(r=1, cq=cq, output=output)
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 6, 2, cq, generator=g)
    kv = torch.randn(1, 6, 4, 8, generator=g)
    qm, km = _masks(torch.ones(1, 6, dtype=torch.bool), 2, 4)
    kv_far = kv.clone()
    kv_far[:, [0, 4, 5]] = torch.randn(1, 3, 4, 8, generator=g)  # outside clip 2's 1..3
    kv_near = kv.clone()
    kv_near[:, 3] = torch.randn(1, 4, 8, generator=g)
    with torch.no_grad():
        s, s_far, s_near = (short(q, x, qm, km) for x in (kv, kv_far, kv_near))
        l, l_far = (long(q, x, qm, km) for x in (kv, kv_far))
    # residual: the query's space; attention only: the keys' width C
    width = cq if output == 'residual' else 8
    assert s.shape == l.shape == (1, 6, 2, width)
    torch.testing.assert_close(s_far[:, 2], s[:, 2], rtol=0, atol=1e-6)
    assert (s_far[:, 0] - s[:, 0]).abs().max() > 1e-4  # clip 0 sees the changed clip 0
    assert (s_near[:, 2] - s[:, 2]).abs().max() > 1e-4  # clip 3 is inside the window
    assert (l_far[:, 2] - l[:, 2]).abs().max() > 1e-4


def test_short_range_none_is_global_attention():
    g = torch.Generator().manual_seed(2)
    q = torch.randn(2, 4, 3, 8, generator=g)
    kv = torch.randn(2, 4, 2, 8, generator=g)
    clips = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    qm, km = _masks(clips, 3, 2)
    # With positions: None == a window wider than the sequence.
    outs = []
    for r in (None, 3, 50):
        short, _ = _adapter_pair(r=r, seed=3)
        with torch.no_grad():
            outs.append(short(q, kv, qm, km))
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(outs[0], outs[2])
    short1, _ = _adapter_pair(r=1, seed=3)
    with torch.no_grad():
        assert (short1(q, kv, qm, km) - outs[0]).abs().max() > 1e-4
    # Without positions, None is plain global cross-attention: check against the long
    # adapter with the same weights and against a hand-written softmax attention, for
    # the attention-only output and for the residual one (query + attention).
    for output in ('attention', 'residual'):
        short, long = _adapter_pair(r=None, pos=False, seed=4, output=output)
        long.load_state_dict(short.state_dict())
        with torch.no_grad():
            out_s, out_l = short(q, kv, qm, km), long(q, kv, qm, km)
            ref = _hand_attention(short.attn, q.reshape(2, 12, 8), kv.reshape(2, 8, 8),
                                  km.reshape(2, 8)).reshape(2, 4, 3, 8)
            if output == 'residual':
                ref = ref + q
            ref = ref * clips[:, :, None, None]
        torch.testing.assert_close(out_s, ref, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out_l, ref, rtol=1e-5, atol=1e-6)


def test_invalid_key_tokens_are_never_attended_and_invalid_queries_are_zero():
    """Token-level masks (a partly padded clip): changing the taps at masked key tokens
    changes nothing; masked query tokens output zeros."""
    g = torch.Generator().manual_seed(5)
    q = torch.randn(1, 3, 4, 8, generator=g)
    kv = torch.randn(1, 3, 4, 8, generator=g)
    qm = torch.ones(1, 3, 4, dtype=torch.bool)
    qm[0, 2, 2:] = False  # the last clip's second half is padding
    km = qm.clone()
    dirty = kv.clone()
    dirty[0, 2, 2:] = 1e4 * torch.randn(2, 8, generator=g)
    for r in (0, 1, None):
        for adapter in _adapter_pair(r=r, seed=6):
            with torch.no_grad():
                out, out_dirty = adapter(q, kv, qm, km), adapter(q, dirty, qm, km)
            torch.testing.assert_close(out_dirty, out, rtol=0, atol=1e-5)
            assert torch.count_nonzero(out[0, 2, 2:]) == 0
            assert (out[0, 2, :2].abs() > 0).all()


def test_shared_query_projection_equals_own_projection_with_the_same_weights():
    torch.manual_seed(7)
    own = ShortRangeAdapter(8, 2, 0.5, query_channels=6)
    shared = ShortRangeAdapter(8, 2, 0.5, query_channels=6, project_query=False)
    assert shared.attn.q_proj is None
    shared.load_state_dict({k: v for k, v in own.state_dict().items()
                            if not k.startswith('attn.q_proj')})
    q, kv = torch.randn(2, 3, 2, 6), torch.randn(2, 3, 4, 8)
    qm, km = _masks(torch.ones(2, 3, dtype=torch.bool), 2, 4)
    with torch.no_grad():
        torch.testing.assert_close(shared(q, kv, qm, km, q=own.attn.q_proj(q)),
                                   own(q, kv, qm, km))
    with pytest.raises(RuntimeError, match='project_query=False'):
        shared(q, kv, qm, km)


def test_bad_adapter_inputs_are_reported():
    short, _ = _adapter_pair()
    q, kv = torch.zeros(1, 3, 2, 8), torch.zeros(1, 3, 4, 8)
    qm, km = _masks(torch.ones(1, 3, dtype=torch.bool), 2, 4)
    with pytest.raises(ValueError, match='masks must be'):
        short(q, kv, km, km)
    with pytest.raises(ValueError, match='query'):
        short(q[:, :2], kv, qm[:, :2], km)
    with pytest.raises(ValueError, match='output must be one of'):
        ShortRangeAdapter(8, output='sum')


def test_attention_rows_without_any_key_are_zero_not_nan():
    torch.manual_seed(8)
    attn = BottleneckCrossAttention(8, n_heads=2, ratio=0.5)
    with torch.no_grad():
        attn.out_proj.bias.fill_(1.0)  # a key-less row must not leak the bias either
    q, kv = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    key_mask = torch.tensor([[True, False, True, False], [False] * 4])
    out = attn(q, kv, key_mask)
    assert torch.isfinite(out).all() and torch.count_nonzero(out[1]) == 0
    assert (out[0].abs() > 0).all()
    # Per-query masks: a query restricted to key 0 equals attending to key 0 alone.
    per_query = torch.zeros(2, 3, 4, dtype=torch.bool)
    per_query[:, 0, 0] = True
    torch.testing.assert_close(attn(q, kv, per_query)[:, 0],
                               attn(q[:, :1], kv[:, :1], torch.ones(2, 1, dtype=torch.bool))[:, 0])


def test_attention_with_distinct_widths_matches_a_hand_written_reference():
    torch.manual_seed(9)
    attn = BottleneckCrossAttention(8, n_heads=2, ratio=0.5, query_channels=6,
                                    kv_channels=10, out_channels=3)
    assert attn.dim == 4  # from the query width: round(6 * 0.5) = 3 -> 4
    q, kv = torch.randn(2, 3, 6), torch.randn(2, 5, 10)
    key_mask = torch.tensor([[True, True, False, True, False], [False] * 5])
    with torch.no_grad():
        out = attn(q, kv, key_mask)
        ref = _hand_attention(attn, q[:1], kv[:1], key_mask[:1])
    assert out.shape == (2, 3, 3)
    torch.testing.assert_close(out[:1], ref, rtol=1e-5, atol=1e-6)
    assert torch.count_nonzero(out[1]) == 0  # no valid key: zeros, not NaN


def _hand_sinusoid(pos, dim, heads, max_period=10000.0):
    """Per head (``dim / heads`` wide): ``[sin(2 pi p / P_0) .. sin(2 pi p / P_{m-1}),
    cos(..) ..]``, ``P_k = 2.5 (max_period / 2.5)^(k / (m - 1))``, ``m = dim / heads / 2``,
    the same slice for every head; plain Python floats."""
    m = dim // heads // 2
    periods = ([2.5 * (max_period / 2.5) ** (k / (m - 1)) for k in range(m)] if m > 1
               else [2.5])
    one = ([math.sin(2 * math.pi * pos / p) for p in periods]
           + [math.cos(2 * math.pi * pos / p) for p in periods])
    return torch.tensor(one * heads)


def _hand_positional_adapter(adapter, query, kv, qm, km, kind, direction=1):
    """Both adapters written out token by token, with positions in last-layer token
    units. A query token ``j`` of clip ``t`` (``T_i`` tokens a clip) sits on the frame
    its pathway samples, ``j * T_N / T_i`` within its clip; key token ``k`` of clip
    ``s`` at ``k`` within its clip.

    * ``kind='short'``: clip-local query positions; keys of clips ``s`` with
      ``|s - t| <= r`` at ``(s - t) * T_N + k``: later clips at positive offsets.
    * ``kind='long'``: global positions, query ``t * T_N + local``, key ``s * T_N + k``.

    ``direction=-1`` gives the same with the key clips' offsets reversed (a bug the
    tests show this reference can tell apart).
    """
    a = adapter.attn
    b_n, t_n, ti, _ = query.shape
    tn = kv.shape[2]
    d, h = a.dim, a.n_heads
    e = d // h
    r = None if kind == 'long' else adapter.short_range_clips
    width = adapter.out_channels
    out = torch.zeros(b_n, t_n, ti, width)
    for b in range(b_n):
        for t in range(t_n):
            for j in range(ti):
                if not qm[b, t, j]:
                    continue
                local = j * tn / ti
                q_pos = local if kind == 'short' else t * tn + local
                q = a.q_proj(query[b, t, j]) + _hand_sinusoid(q_pos, d, h)
                keys, values = [], []
                for s in range(t_n):
                    if r is not None and abs(s - t) > r:
                        continue
                    for k in range(tn):
                        if not km[b, s, k]:
                            continue
                        if kind == 'short':
                            k_pos = direction * (s - t) * tn + k
                        else:
                            k_pos = (s if direction == 1 else t_n - 1 - s) * tn + k
                        keys.append(a.k_proj(kv[b, s, k]) + _hand_sinusoid(k_pos, d, h))
                        values.append(a.v_proj(kv[b, s, k]))
                attended = torch.zeros(width)
                if keys:
                    heads = []
                    for hh in range(h):
                        sl = slice(hh * e, (hh + 1) * e)
                        logits = torch.stack([q[sl] @ key[sl] for key in keys]) / math.sqrt(e)
                        w = logits.softmax(0)
                        heads.append(sum(wi * v[sl] for wi, v in zip(w, values)))
                    attended = a.out_proj(torch.cat(heads))
                out[b, t, j] = attended + (query[b, t, j] if adapter.output == 'residual' else 0)
    return out


@pytest.mark.parametrize('output', ['residual', 'attention'])
@pytest.mark.parametrize('r', [0, 1, 2, None])
def test_adapters_with_positions_match_a_hand_written_reference(r, output):
    """Positions, windows and masks against :func:`_hand_positional_adapter`: 5 clips
    of 2 query / 4 key tokens (fractional query positions 0.5, 2.5), query width 6,
    the last clip half padded and the first clip of the second window invalid. Offsets
    in the wrong direction give outputs far from the adapter's."""
    torch.manual_seed(11)
    short = ShortRangeAdapter(8, 2, 0.5, short_range_clips=r, query_channels=6,
                              output=output)
    long = LongRangeAdapter(8, 2, 0.5, query_channels=6, output=output)
    g = torch.Generator().manual_seed(12)
    q, kv = torch.randn(2, 5, 2, 6, generator=g), torch.randn(2, 5, 4, 8, generator=g)
    qm, km = _masks(torch.ones(2, 5, dtype=torch.bool), 2, 4)
    qm, km = qm.clone(), km.clone()
    qm[0, 4, 1:], km[0, 4, 2:] = False, False  # a partly padded last clip
    qm[1, 0], km[1, 0] = False, False          # an invalid clip
    cases = [(short, 'short')] + ([(long, 'long')] if r == 0 else [])
    for adapter, kind in cases:
        with torch.no_grad():
            out = adapter(q, kv, qm, km)
            ref = _hand_positional_adapter(adapter, q, kv, qm, km, kind)
            wrong = _hand_positional_adapter(adapter, q, kv, qm, km, kind, direction=-1)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        if kind == 'long' or r != 0:  # r = 0 has no offsets to reverse
            assert (wrong - out).abs().max() > 0.02, (kind, (wrong - out).abs().max())


@pytest.mark.parametrize('dim,heads,max_period', [(8, 1, 10000.0), (24, 4, 128.0),
                                                   (16, 4, 128.0), (40, 2, 10000.0)])
def test_sinusoidal_encoding_equals_the_formula_and_rejects_bad_widths(dim, heads, max_period):
    """Negative, fractional and large positions (angles up to ~7500 rad at the shortest
    period, where a wrong shortest period of 2.51 moves the output by far more than the
    tolerance)."""
    from losa_plugin.models.necks.sinusoidal_encoding import sinusoidal_encoding
    pos = torch.tensor([[-7.5, 0.0, 0.25], [3.0, 1000.0, 3000.0]])
    out = sinusoidal_encoding(pos, dim, heads, max_period=max_period)
    assert out.shape == (2, 3, dim) and out.dtype == torch.float32
    for i in range(2):
        for j in range(3):
            ref = _hand_sinusoid(float(pos[i, j]), dim, heads, max_period)
            torch.testing.assert_close(out[i, j], ref, rtol=0, atol=2e-3)
    with pytest.raises(ValueError, match='multiple of 2 \\* n_heads = 8, got dim=12'):
        sinusoidal_encoding(pos, 12, 4)


@pytest.mark.parametrize('r', [1, None])
def test_adapters_create_no_tensor_off_the_inputs_device(r):
    """On the ``meta`` device a tensor created on the CPU inside ``forward`` (positions,
    windows, masks) fails as it would on a GPU (issue 16's check, for the adapters)."""
    for adapter in _adapter_pair(c=8, r=r, cq=6):
        adapter = adapter.to('meta')
        q = torch.empty(1, 3, 2, 6, device='meta')
        kv = torch.empty(1, 3, 4, 8, device='meta')
        qm = torch.ones(1, 3, 2, dtype=torch.bool, device='meta')
        km = torch.ones(1, 3, 4, dtype=torch.bool, device='meta')
        out = adapter(q, kv, qm, km)
        assert out.device.type == 'meta' and out.shape == (1, 3, 2, 6)


def test_bottleneck_attention_adds_positions_after_the_projections():
    torch.manual_seed(10)
    attn = BottleneckCrossAttention(8, n_heads=2, ratio=0.5)
    g = torch.Generator().manual_seed(11)
    q, kv = torch.randn(1, 3, 8, generator=g), torch.randn(1, 5, 8, generator=g)
    q_pos, k_pos = torch.randn(3, 4, generator=g), torch.randn(5, 4, generator=g)
    mask = torch.ones(1, 5, dtype=torch.bool)
    with torch.no_grad():
        out = attn(q, kv, mask, q_pos=q_pos, k_pos=k_pos)
        qq, kk = attn.q_proj(q[0]) + q_pos, attn.k_proj(kv[0]) + k_pos
        vv = attn.v_proj(kv[0])
        heads = []
        for h in range(2):
            sl = slice(2 * h, 2 * h + 2)
            w = (qq[:, sl] @ kk[:, sl].T / math.sqrt(2)).softmax(-1)
            heads.append(w @ vv[:, sl])
        ref = attn.out_proj(torch.cat(heads, dim=-1))
    torch.testing.assert_close(out[0], ref, rtol=1e-5, atol=1e-6)


def test_adapter_arguments_reach_the_attention_and_errors_name_the_adapter():
    """kv width and dropout are passed to the bottleneck attention (a key width other
    than C against the positional reference; dropout active in training only); input
    errors name the adapter class."""
    torch.manual_seed(13)
    short = ShortRangeAdapter(8, 2, 0.5, short_range_clips=1, query_channels=6,
                              kv_channels=10)
    assert short.attn.k_proj.in_features == short.attn.v_proj.in_features == 10
    g = torch.Generator().manual_seed(14)
    q, kv = torch.randn(1, 3, 2, 6, generator=g), torch.randn(1, 3, 4, 10, generator=g)
    qm, km = _masks(torch.ones(1, 3, dtype=torch.bool), 2, 4)
    with torch.no_grad():
        torch.testing.assert_close(short(q, kv, qm, km),
                                   _hand_positional_adapter(short, q, kv, qm, km, 'short'),
                                   rtol=1e-5, atol=1e-5)
    for cls in (ShortRangeAdapter, LongRangeAdapter):
        drop = cls(8, 2, 0.5, dropout=0.5)
        assert drop.attn.drop.p == 0.5
        q8, kv8 = torch.randn(1, 3, 2, 8, generator=g), torch.randn(1, 3, 4, 8, generator=g)
        with torch.no_grad():
            drop.eval()
            a, b = drop(q8, kv8, qm, km), drop(q8, kv8, qm, km)
            drop.train()
            c = drop(q8, kv8, qm, km)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert (c - a).abs().max() > 1e-3
        with pytest.raises(ValueError, match=f'{cls.__name__}: query'):
            drop(q8[0], kv8, qm, km)  # a 3-dim query
        with pytest.raises(ValueError, match=rf'{cls.__name__}: query \[B, T, T_i, C_q\]'):
            drop(q8[:, :, 0], kv8, qm, km)  # 3-dim, but [B, T] as the keys'
        with pytest.raises(ValueError, match=f'{cls.__name__}: masks must be'):
            drop(q8, kv8, km, km)
        with pytest.raises(ValueError, match=f'{cls.__name__}: output must be one of'):
            cls(8, output='sum')


def test_defaults_widths_and_argument_checks():
    """Paper settings as defaults (4 heads, d = C / 4, own clip +- 1); the bottleneck width
    by hand; every refused argument named in its error."""
    from losa_plugin.models.necks.bottleneck_cross_attention import bottleneck_width
    short, long = ShortRangeAdapter(64), LongRangeAdapter(64)
    assert short.short_range_clips == 1
    for a in (short, long):
        assert (a.attn.n_heads, a.attn.dim, a.attn.drop.p) == (4, 16, 0.0)
    # round(C * ratio) up to a positive multiple of 2 * heads
    assert (BottleneckCrossAttention(64).n_heads, BottleneckCrossAttention(64).dim) == (4, 16)
    assert bottleneck_width(1408, 0.25, 4) == 352      # ViT-g: C / 4
    assert bottleneck_width(100, 0.25, 4) == 32        # 25 -> 32
    assert bottleneck_width(10, 0.25, 4) == 8          # 2.5 -> 2 -> at least 8
    assert bottleneck_width(6, 0.5, 1) == 4            # 3 -> 4
    assert bottleneck_width(4, 0.5, 1) == 2
    for ratio in (0, -0.5):
        with pytest.raises(ValueError, match=f'adapter_ratio must be > 0, got {ratio}'):
            bottleneck_width(8, ratio, 2)
    with pytest.raises(ValueError, match='n_heads must be >= 1, got 0'):
        bottleneck_width(8, 0.5, 0)
    assert BottleneckCrossAttention(1, n_heads=1, out_channels=1).out_channels == 1
    with pytest.raises(ValueError, match='BottleneckCrossAttention: kv_channels must be >= 1, '
                                         'got 0'):
        BottleneckCrossAttention(8, kv_channels=0)
    for bad in (-1, 1.5, '1'):
        with pytest.raises(ValueError, match=r'^ShortRangeAdapter: short_range_clips must be '
                                             r'None or an int >= 0, got '):
            ShortRangeAdapter(8, short_range_clips=bad)
    shared = BottleneckCrossAttention(8, project_query=False)
    with pytest.raises(RuntimeError, match=r'^BottleneckCrossAttention: built with '
                                           r'project_query=False; pass projected queries$'):
        shared.project_q(torch.zeros(1, 8))


def _head_slices(enc, heads):
    """``[..., d] -> [..., heads, d / heads]``: the slices attention gives each head
    (``BottleneckCrossAttention.attend`` splits ``d`` as ``(h e)``)."""
    return enc.reshape(enc.shape[:-1] + (heads, enc.shape[-1] // heads))


@pytest.mark.parametrize('channels,heads,max_period,r', [
    (64, 4, 128.0, 1),     # the synthetic transfer ViT: d = 16, 2 frequencies a head
    (96, 4, 128.0, 1),     # the synthetic aligned ViT: d = 24
    (1408, 4, 10000.0, 1),  # ViT-g: d = 352
    (768, 4, 10000.0, 2)])  # ViT-B
def test_every_head_gets_a_relative_position_code_over_the_short_range_window(
        channels, heads, max_period, r):
    """Through the adapters' own encoding: for every head, the positional part of the
    Q.K product of a query at ``p`` and a key at ``p + delta`` depends on ``delta``
    alone (several ``p``, ``delta``, fractional too), and the head's sine / cosine
    pairs have periods from about 2 positions to beyond the short-range window
    (``(2 r + 1) T_N`` tokens, ``T_N = 8``). A layout that gives a head only sines (or
    only the slowest frequencies) fails both."""
    adapter = ShortRangeAdapter(channels, heads, 0.25, short_range_clips=r,
                                pos_max_period=max_period)
    e = adapter.attn.dim // heads
    deltas = torch.tensor([-17.0, -3.0, -1.0, -0.125, 0.0, 0.5, 1.0, 2.0, 7.0, 24.0])
    terms = []
    for p in (0.0, 3.0, 10.25, 57.0, 200.0):
        q = _head_slices(adapter.encode_positions(torch.tensor([p])), heads)[0]   # [h, e]
        k = _head_slices(adapter.encode_positions(p + deltas), heads)               # [D, h, e]
        terms.append(torch.einsum('he,dhe->dh', q, k))
    terms = torch.stack(terms)  # [p, delta, head]
    torch.testing.assert_close(terms, terms[:1].expand_as(terms), rtol=0, atol=1e-3)
    # the term is not constant: it tells offsets apart in every head
    assert (terms[0].max(0).values - terms[0].min(0).values).min() > 0.5
    # each head: pairs (sin, cos) of one period each; read the periods off the code
    m = e // 2
    for head in _head_slices(adapter.encode_positions(torch.tensor([0.0, 1.0])), heads)[1]:
        sin, cos = head[:m].double(), head[m:].double()
        torch.testing.assert_close(sin ** 2 + cos ** 2, torch.ones(m, dtype=torch.float64))
        periods = 2 * math.pi / torch.atan2(sin, cos).abs()  # one step turns 2 pi / P
        window = (2 * r + 1) * 8
        assert periods.min() <= 3.0 and periods.max() > window, periods
