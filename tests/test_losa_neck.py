"""The LoSA neck: identity at init for every reading, masks, ablations, parameter
count, and what the adapters can carry."""
import pytest
import torch

from losa_plugin.models.backbones import TapOutput
from losa_plugin.models.necks import (LongRangeAdapter, ShortRangeAdapter, SpatialReduction,
                                      TemporalAlign)
from mmaction.registry import MODELS

# Tiny "SlowFast-like" taps: layer ids 2, 5, 8; channels and T_i differ from the last.
LAYER_IDS = [2, 5, 8]
CHANNELS = [6, 8, 8]
TEMPORAL = [2, 4, 4]
WIDTHS = ('tap', 'neck')
#: the adapter readings of docs/method.md (output, shared query projection)
READINGS = [dict(), dict(adapter_output='attention'), dict(share_query=False),
            dict(adapter_output='attention', share_query=False)]


def make_taps(b=2, t=5, hw=3, channels=CHANNELS, temporal=TEMPORAL, seed=0,
              valid=(5, 3), reduced=False):
    g = torch.Generator().manual_seed(seed)
    feats = []
    for c, ti in zip(channels, temporal):
        shape = (b, t, ti, c) if reduced else (b, t, ti, hw, hw, c)
        feats.append(torch.randn(*shape, generator=g))
    mask = torch.zeros(b, t, dtype=torch.bool)
    for i, v in enumerate(valid[:b]):
        mask[i, :v] = True
    return TapOutput(tuple(feats), tuple(LAYER_IDS[-len(channels):]), mask)


def build(**kwargs):
    cfg = dict(type='LoSANeck', in_channels=CHANNELS, layer_ids=LAYER_IDS,
               temporal_sizes=TEMPORAL)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def last_layer_output(taps, neck):
    """LastLayerNeck on the same taps, sharing LoSA's F_N projection if it has one."""
    ll = MODELS.build(dict(type='LastLayerNeck', in_channels=taps.feats[-1].shape[-1],
                           out_channels=neck.out_channels))
    ll.load_state_dict(neck.last_layer.state_dict())
    return ll(taps)


@pytest.mark.parametrize('case', [
    dict(),  # C_i != C_N and T_i != T_N for layer 2
    dict(out_channels=4),  # F_N projected to a narrower C
    dict(spatial_cfg=dict(mode='mean', norm=False)),
    dict(short_range_clips=None, n_heads=2, adapter_ratio=0.5),
    dict(reduced=True, spatial_cfg=dict(mode='mean')),
    dict(init_cfg=dict(type='Xavier', layer='Linear', bias=0.3)),
])
@pytest.mark.parametrize('reading', READINGS)
@pytest.mark.parametrize('width', WIDTHS)
def test_zero_gates_give_exactly_the_pooled_last_layer(case, width, reading):
    case = dict(case)
    reduced = case.pop('reduced', False)
    taps = make_taps(reduced=reduced)
    neck = build(adapter_width=width, **reading, **case)
    # Layer 2 (C_i=6, T_i=2) differs from layer N (8, 4) in width and time.
    assert neck.spatial[0].out_channels == (6 if width == 'tap' else neck.out_channels)
    neck.init_weights()
    feats, mask = neck(taps)
    ref, ref_mask = last_layer_output(taps, neck)
    assert feats.shape == ref.shape == (2, neck.out_channels, 5 * 4)
    torch.testing.assert_close(feats, ref, rtol=0, atol=1e-6)
    assert torch.equal(mask, ref_mask)
    # Not trivially so: the same neck with open gates changes the output.
    with torch.no_grad():
        neck.fusion.gates_short.fill_(1.0)
        neck.fusion.gates_long.fill_(1.0)
    assert (neck(taps)[0] - ref).abs().max() > 1e-3


@pytest.mark.parametrize('width', WIDTHS)
def test_gates_get_gradient_at_zero_init_and_adapters_after_one_step(width):
    taps = make_taps()
    neck = build(adapter_width=width)
    target = torch.randn(2, 8, 20, generator=torch.Generator().manual_seed(306))
    feats, mask = neck(taps)
    loss = ((feats - target) ** 2 * mask[:, None]).mean()
    loss.backward()
    for gates in (neck.fusion.gates_short, neck.fusion.gates_long):
        assert gates.grad is not None and (gates.grad.abs() > 0).all()
    # d FT / d adapter = gate * ... = 0 at zero gates: the expected step-0 behaviour.
    q_grad = neck.query_projs[0].weight.grad
    assert q_grad is None or torch.count_nonzero(q_grad) == 0
    torch.optim.SGD(neck.parameters(), lr=0.5).step()
    neck.zero_grad()
    feats, mask = neck(taps)
    ((feats - target) ** 2 * mask[:, None]).mean().backward()
    watched = {
        'spatial conv': neck.spatial[0].conv.weight,
        # 'tap' keeps layer 2's 6 channels (no projection); 'neck' projects 6 -> 8.
        'spatial proj or norm': (neck.spatial[0].norm.weight if width == 'tap'
                                 else neck.spatial[0].proj.weight),
        'last-layer kv block': neck.spatial_last.conv.weight,
        'shared q': neck.query_projs[0].weight,
        'short k': neck.short_adapters[1].attn.k_proj.weight,
        'long v': neck.long_adapters[0].attn.v_proj.weight,
        'long out': neck.long_adapters[1].attn.out_proj.weight,
        'temporal align': neck.aligns[0].weight,
        # 'tap': layer 2's residual output (6 channels) projected to C = 8
        **({'residual to C': neck.out_projs[0].weight} if width == 'tap' else {}),
        'fusion proj': neck.fusion.proj.weight,
    }
    for name, p in watched.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('width', WIDTHS)
def test_neck_short_branch_is_local_long_branch_is_global(width):
    taps = make_taps(t=6, valid=(6, 6))
    far = [f.clone() for f in taps.feats]
    for f in far:
        f[:, [0, 4, 5]] = torch.randn_like(f[:, [0, 4, 5]])
    far = TapOutput(tuple(far), taps.layer_ids, taps.clip_mask)
    clip2 = slice(2 * 4, 3 * 4)
    with torch.no_grad():
        short_only = build(use_long=False, gate_init='one', adapter_width=width)
        torch.testing.assert_close(short_only(far)[0][..., clip2],
                                   short_only(taps)[0][..., clip2], rtol=0, atol=1e-6)
        long_only = build(use_short=False, gate_init='one', adapter_width=width)
        assert (long_only(far)[0][..., clip2] - long_only(taps)[0][..., clip2]).abs().max() > 1e-4


@pytest.mark.parametrize('cfg', [
    dict(gate_init='one'),
    dict(gate_init='one', short_range_clips=None),
    dict(gate_init='cosine_layer'),
    dict(gate_init='cosine_token'),
    dict(fusion='add'),
])
@pytest.mark.parametrize('width', WIDTHS)
def test_padding_garbage_does_not_reach_valid_positions(cfg, width):
    taps = make_taps(b=2, t=5, valid=(5, 3))
    neck = build(adapter_width=width, **cfg)
    dirty = [f.clone() for f in taps.feats]
    for f in dirty:
        f[1, 3:] = 1e4 * torch.randn_like(f[1, 3:])
    with torch.no_grad():
        out, mask = neck(taps)
        out_dirty, _ = neck(TapOutput(tuple(dirty), taps.layer_ids, taps.clip_mask))
        # Sample 1 alone, truncated to its 3 valid clips, without any padding.
        alone = TapOutput(tuple(f[1:, :3] for f in taps.feats), taps.layer_ids,
                          torch.ones(1, 3, dtype=torch.bool))
        out_alone, _ = neck(alone)
    assert torch.isfinite(out_dirty).all()
    torch.testing.assert_close(out_dirty, out, rtol=0, atol=1e-5)
    torch.testing.assert_close(out[1:, :, :12], out_alone, rtol=1e-5, atol=1e-5)
    assert torch.count_nonzero(out[1, :, 12:]) == 0 and not mask[1, 12:].any()


def test_fully_padded_sample_gives_zeros_not_nan():
    taps = make_taps(valid=(5, 0))
    feats, _ = build(gate_init='one')(taps)
    assert torch.isfinite(feats).all() and torch.count_nonzero(feats[1]) == 0


@pytest.mark.parametrize('cfg', [
    dict(use_short=False),
    dict(use_long=False),
    dict(use_short=False, use_long=False),
    dict(fusion='add'),
    dict(gate_init='one'),
    dict(gate_init='random'),
    dict(gate_init='cosine_layer'),
    dict(gate_init='cosine_token'),
    dict(adapter_layers=[5]),
    dict(adapter_layers=[]),
    dict(short_range_clips=0, dropout=0.1),
    dict(pos_encoding=False, spatial_cfg=dict(mode='conv', kernel_size=1)),
])
def test_every_ablation_builds_runs_and_trains(cfg):
    taps = make_taps()
    neck = build(**cfg)
    neck.train()
    feats, mask = neck(taps)
    assert feats.shape == (2, 8, 20) and mask.shape == (2, 20)
    assert torch.isfinite(feats).all()
    if not neck.has_adapters:  # nothing adapted: exactly the head-only features
        torch.testing.assert_close(feats, last_layer_output(taps, neck)[0], rtol=0, atol=0)
    params = [p for p in neck.parameters() if p.requires_grad]
    if params:
        (feats * mask[:, None]).square().mean().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    gates = neck.gate_values()
    if neck.has_adapters and cfg.get('fusion') != 'add':
        n_branches = int(neck.use_short) + int(neck.use_long)
        assert len(gates) == n_branches * len(neck.adapter_taps)
    if cfg.get('gate_init', '').startswith('cosine'):  # mean similarities of this forward
        assert all(-1.0 - 1e-6 <= v <= 1.0 + 1e-6 for v in gates.values())
        assert len(set(gates.values())) > 1


def test_adapter_layer_subset_builds_only_those_adapters():
    taps = make_taps(channels=[6, 8, 8, 8], temporal=[2, 4, 4, 4])
    ids = [2, 5, 8, 11]
    full = build(in_channels=[6, 8, 8, 8], layer_ids=ids, temporal_sizes=[2, 4, 4, 4])
    sub = build(in_channels=[6, 8, 8, 8], layer_ids=ids, temporal_sizes=[2, 4, 4, 4],
                adapter_layers=[5, 8])
    assert set(full.gate_values()) == {f'{b}/layer{i}' for b in ('short', 'long')
                                       for i in (2, 5, 8)}
    assert set(sub.gate_values()) == {f'{b}/layer{i}' for b in ('short', 'long')
                                      for i in (5, 8)}
    n_full = sum(p.numel() for p in full.parameters())
    n_sub = sum(p.numel() for p in sub.parameters())
    assert 0 < n_sub < n_full
    taps = TapOutput(taps.feats, tuple(ids), taps.clip_mask)
    torch.testing.assert_close(sub(taps)[0], last_layer_output(taps, sub)[0], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match='not an intermediate tap'):
        build(in_channels=[6, 8, 8, 8], layer_ids=ids, temporal_sizes=[2, 4, 4, 4],
              adapter_layers=[11])


def test_bad_configs_and_inputs_are_reported():
    with pytest.raises(ValueError, match='gate_init'):
        build(gate_init='half')
    with pytest.raises(ValueError, match='fusion'):
        build(fusion='concat')
    with pytest.raises(ValueError, match='adapter_width'):
        build(adapter_width='layer')
    with pytest.raises(ValueError, match='layer_ids'):
        MODELS.build(dict(type='LoSANeck', in_channels=8))
    taps = make_taps()
    with pytest.raises(ValueError, match='layer_ids'):
        build()(TapOutput(taps.feats, (1, 2, 3), taps.clip_mask))
    with pytest.raises(ValueError, match='temporal_sizes'):
        build(temporal_sizes=None)(taps)


def test_temporal_align_starts_as_interpolation():
    align = TemporalAlign(2, 4)
    g = torch.Generator().manual_seed(307)
    x = torch.randn(1, 3, 1, 5, generator=g).expand(1, 3, 2, 5)  # constant over the clip's tokens
    torch.testing.assert_close(align(x), x[:, :, :1].expand(1, 3, 4, 5))
    ramp = torch.tensor([0.0, 1.0]).view(1, 1, 2, 1)
    out = align(ramp).flatten()
    assert (out[1:] >= out[:-1]).all() and out[0] == 0.0 and out[-1] == 1.0


def test_low_precision_taps_run_and_keep_identity_at_init():
    taps = make_taps()
    low = TapOutput(tuple(f.bfloat16() for f in taps.feats), taps.layer_ids, taps.clip_mask)
    neck = build()
    feats, _ = neck(low)
    assert feats.dtype == torch.float32
    as_float = TapOutput(tuple(f.float() for f in low.feats), low.layer_ids, low.clip_mask)
    torch.testing.assert_close(feats, last_layer_output(as_float, neck)[0], rtol=0, atol=1e-6)
    with torch.no_grad():
        neck.fusion.gates_short.fill_(1.0)
        neck.fusion.gates_long.fill_(1.0)
        # with the adapters on, bf16 taps give the float path on the same values up to
        # the bf16 rounding inside the spatial block (measured 2.7e-3 on values ~3)
        torch.testing.assert_close(neck(low)[0], neck(as_float)[0], rtol=0, atol=2e-2)


# ------------------------------------------------------------------ adapter width
@pytest.mark.parametrize('share', [True, False])
@pytest.mark.parametrize('output', ['residual', 'attention'])
@pytest.mark.parametrize('width', WIDTHS)
def test_parameter_count_matches_the_closed_form(width, output, share):
    in_channels, temporal = [6, 12, 8], [2, 4, 4]
    c = 8
    k = 3
    # bottleneck_width(C', 0.5, n_heads=2): round(C' / 2) up to a multiple of 4.
    if width == 'tap':
        reduced, d = [6, 12], [4, 8]  # 3 -> 4, 6 -> 8
    else:
        reduced, d = [c, c], [4, 4]
    expected = c * (k * k + 1) + 2 * c  # F'_N: depthwise conv (+ bias) and LayerNorm
    for ci, cr, di, ti in zip(in_channels, reduced, d, temporal):
        expected += ci * (k * k + 1) + 2 * cr  # depthwise conv, LayerNorm over C'_i
        if cr != ci:
            expected += ci * cr + cr  # 'neck': projection C_i -> C
        q = cr * di + di
        expected += q if share else 2 * q  # one query projection per layer, or one each
        out = cr if output == 'residual' else c  # residual: back to the query's width
        expected += 2 * (2 * (c * di + di) + (di * out + out))  # K, V, out; short + long
        if output == 'residual' and cr != c:
            expected += cr * c + c  # the layer's residual output projected to C
        if ti != temporal[-1]:
            expected += temporal[-1] * ti + temporal[-1]  # TemporalAlign
    expected += 2 * 2 + (2 * c * c + c)  # gates (2 layers x 2 branches), Proj
    neck = build(in_channels=in_channels, temporal_sizes=temporal, n_heads=2,
                 adapter_ratio=0.5, adapter_width=width, adapter_output=output,
                 share_query=share)
    assert sum(p.numel() for p in neck.parameters()) == expected
    assert [a.attn.dim for a in neck.short_adapters] == d
    for k_, (a, sp) in enumerate(zip(neck.long_adapters, neck.spatial)):
        q_proj = neck.query_projs[k_] if share else a.attn.q_proj
        assert sp.out_channels == q_proj.in_features == reduced[k_]
        assert a.attn.k_proj.in_features == a.attn.v_proj.in_features == c
        assert a.attn.out_proj.out_features == (reduced[k_] if output == 'residual' else c)


def test_tap_width_runs_mixed_widths_and_narrow_taps_cost_less():
    taps = make_taps(channels=[2, 12, 8], valid=(5, 4))
    cfg = dict(in_channels=[2, 12, 8], gate_init='one')
    tap, neck = build(adapter_width='tap', **cfg), build(adapter_width='neck', **cfg)
    with torch.no_grad():
        out, mask = tap(taps)
    assert out.shape == (2, 8, 20) and torch.isfinite(out).all()
    assert torch.equal(mask, neck(taps)[1])
    # Layer 2 (2 channels) costs less at its own width, layer 5 (12 channels) more.
    size = [[sum(p.numel() for p in m.short_adapters[i].parameters()) for i in (0, 1)]
            for m in (tap, neck)]
    assert size[0][0] < size[1][0] and size[0][1] > size[1][1]


def test_neck_width_builds_every_adapter_at_the_neck_width():
    """'neck' builds exactly the modules of a neck-width design: every spatial block
    projects to C and every adapter is built from C alone (no width overrides)."""
    torch.manual_seed(0)
    neck = build(adapter_width='neck', n_heads=2, adapter_ratio=0.5, short_range_clips=2)
    c = neck.out_channels
    ref = {}
    for k, i in enumerate(neck.adapter_taps):
        for name, mod in (('spatial', SpatialReduction(CHANNELS[i], c)),
                          ('short_adapters', ShortRangeAdapter(c, 2, 0.5, 2,
                                                               project_query=False)),
                          ('long_adapters', LongRangeAdapter(c, 2, 0.5, project_query=False)),
                          ('query_projs', torch.nn.Linear(c, 4))):
            ref.update({f'{name}.{k}.{n}': v.shape for n, v in mod.state_dict().items()})
    got = {n: v.shape for n, v in neck.state_dict().items()
           if n.split('.')[0] in ('spatial', 'short_adapters', 'long_adapters', 'query_projs')}
    assert got == ref
    assert all(isinstance(m, torch.nn.Identity) for m in neck.out_projs)
    assert neck.short_adapters[0].short_range_clips == 2


def test_widths_agree_when_every_layer_has_the_neck_width():
    """ViT-like taps (all C_i = C): 'tap' and 'neck' are the same model."""
    channels, temporal = [8, 8, 8], [4, 4, 4]
    taps = make_taps(channels=channels, temporal=temporal)
    cfg = dict(in_channels=channels, temporal_sizes=temporal, gate_init='random')
    tap, neck = build(adapter_width='tap', **cfg), build(adapter_width='neck', **cfg)
    shapes = {n: v.shape for n, v in tap.state_dict().items()}
    assert shapes == {n: v.shape for n, v in neck.state_dict().items()}
    neck.load_state_dict(tap.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(tap(taps)[0], neck(taps)[0])


def _spatial_label_taps(batch: int, generator: torch.Generator, direction: torch.Tensor):
    """Two taps ``[B, 1, 2, 2, 2, 16]``: layer 1 noise; the last layer carries a binary
    label only in its spatial layout (+v left / -v right, or the reverse), so its
    spatial mean is label-free. Returns ``(TapOutput, labels [B])``."""
    labels = torch.randint(0, 2, (batch,), generator=generator)
    sign = (2 * labels - 1).float().view(batch, 1, 1, 1, 1, 1)
    layout = torch.tensor([1.0, -1.0]).view(1, 1, 1, 1, 2, 1)  # over W
    last = 0.1 * torch.randn(batch, 1, 2, 2, 2, 16, generator=generator) \
        + sign * layout * direction
    first = torch.randn(batch, 1, 2, 2, 2, 16, generator=generator)
    return TapOutput((first, last), (1, 2), torch.ones(batch, 1, dtype=torch.bool)), labels


def _fit_token_classifier(neck: torch.nn.Module, steps: int = 150,
                          taps_fn=None) -> float:
    """Train ``neck`` + a linear classifier on every output token; returns the accuracy
    on fresh batches afterwards."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    direction = torch.nn.functional.normalize(torch.randn(16, generator=gen), dim=0) * 2
    classifier = torch.nn.Linear(16, 2)
    params = [p for p in list(neck.parameters()) + list(classifier.parameters())
              if p.requires_grad]
    optim = torch.optim.Adam(params, lr=1e-2)
    taps_fn = taps_fn or _spatial_label_taps
    for _ in range(steps):
        taps, labels = taps_fn(32, gen, direction)
        feats, _ = neck(taps)  # [B, C, L]
        logits = classifier(feats.transpose(1, 2))  # [B, L, 2]
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]))
        optim.zero_grad()
        loss.backward()
        optim.step()
    with torch.no_grad():
        taps, labels = taps_fn(512, gen, direction)
        logits = classifier(neck(taps)[0].transpose(1, 2))
        return (logits.argmax(-1) == labels[:, None]).float().mean().item()


def test_zero_gates_open_when_the_adapters_carry_what_the_pooled_last_layer_lacks():
    """A positive control for the synthetic benchmark's finding that the gates stay near
    zero: with a label that only the spatial layout of the last layer carries, the
    pooled last layer (head-only's input) is at chance, while LoSA's conv block + adapters
    read it and the zero-initialised gates open."""
    torch.manual_seed(0)
    losa = MODELS.build(dict(type='LoSANeck', in_channels=[16, 16], layer_ids=[1, 2],
                             n_heads=2, short_range_clips=1))
    losa.init_weights()
    head_only = MODELS.build(dict(type='LastLayerNeck', in_channels=16))
    assert _fit_token_classifier(head_only) < 0.6
    assert _fit_token_classifier(losa) > 0.95
    gates = losa.gate_values()
    assert max(abs(v) for v in gates.values()) > 0.1, gates


# ------------------------------------------------- what the adapters can carry
def _intermediate_label_taps(batch: int, generator: torch.Generator, direction: torch.Tensor):
    """Two taps ``[B, 1, 2, 2, 2, 16]``: the intermediate layer carries a binary label
    (``+-direction`` on every token); the last layer is the same constant for every sample
    and token, so ``F_N`` and every key / value of the adapters are label-free.
    Returns ``(TapOutput, labels [B])``."""
    labels = torch.randint(0, 2, (batch,), generator=generator)
    sign = (2 * labels - 1).float().view(batch, 1, 1, 1, 1, 1)
    first = 0.3 * torch.randn(batch, 1, 2, 2, 2, 16, generator=generator) + sign * direction
    last = torch.linspace(-1, 1, 16).expand(batch, 1, 2, 2, 2, 16).clone()
    return TapOutput((first, last), (1, 2), torch.ones(batch, 1, dtype=torch.bool)), labels


@pytest.mark.parametrize('output, learns', [('residual', True), ('attention', False)])
def test_adapters_carry_a_label_only_an_intermediate_layer_holds(output, learns):
    """The paper's adapters "transform the output of intermediate layers" (Sec. 1): with
    the residual reading the neck learns a label that only layer 1 carries; read as
    attention alone (values from the uninformative last layer only) it cannot."""
    torch.manual_seed(0)
    neck = MODELS.build(dict(type='LoSANeck', in_channels=[16, 16], layer_ids=[1, 2],
                             n_heads=2, adapter_output=output))
    neck.init_weights()
    acc = _fit_token_classifier(neck, taps_fn=_intermediate_label_taps)
    if learns:
        assert acc > 0.95
        assert max(abs(v) for v in neck.gate_values().values()) > 0.05
    else:
        assert acc < 0.6


def test_cosine_gates_per_layer_and_per_token_against_a_hand_computation():
    """``'cosine_layer'``: one weight a layer and sample, the cosine of the flattened
    valid tokens of ``FS_i`` and ``F_N``; ``'cosine_token'``: one a token. Invalid tokens
    (garbage in ``FS_i`` there) must not move the per-layer weight."""
    from losa_plugin.models.necks.long_short_fusion import LongShortFusion
    g = torch.Generator().manual_seed(3)
    f_last = torch.randn(2, 3, 4, 5, generator=g)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[1, 2:] = False
    f_last = f_last * mask[..., None]
    short = [torch.randn(2, 3, 4, 5, generator=g) for _ in range(2)]
    long = [torch.randn(2, 3, 4, 5, generator=g) for _ in range(2)]
    for kind in ('cosine_layer', 'cosine_token'):
        fusion = LongShortFusion(5, 2, gate_init=kind)
        assert not list(p for n, p in fusion.named_parameters() if 'gates' in n)
        out = fusion(f_last, short, long, mask)
        expected = []
        for feats in (short, long):
            acc = torch.zeros_like(f_last)
            for f in feats:
                for b in range(2):
                    if kind == 'cosine_layer':
                        a, c = f[b][mask[b]].flatten(), f_last[b][mask[b]].flatten()
                        acc[b] += float(a @ c / (a.norm() * c.norm())) * f[b]
                    else:
                        for t in range(3):
                            for n in range(4):
                                a, c = f[b, t, n], f_last[b, t, n]
                                cos = float(a @ c / (a.norm() * c.norm()).clamp(min=1e-8))
                                acc[b, t, n] += cos * f[b, t, n]
            expected.append(acc + f_last)
        ref = fusion.proj(torch.cat(expected, dim=-1))
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        if kind == 'cosine_layer':  # garbage at invalid tokens changes nothing valid
            dirty = [f.clone() for f in short]
            for f in dirty:
                f[1, 2:] = 1e3
            out_dirty = fusion(f_last, dirty, long, mask)
            torch.testing.assert_close(out_dirty[mask], out[mask], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="'cosine' is now 'cosine_layer'"):
        LongShortFusion(5, 2, gate_init='cosine')
