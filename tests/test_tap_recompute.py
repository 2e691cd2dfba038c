"""Tap recompute (``tap_recompute=True``): the neck's spatial blocks run per clip inside
the backbone's clip loop under activation checkpointing, and each clip's taps are
recomputed in the backward pass instead of stored.

The reference is the default mode (every clip's taps stored, the spatial blocks run on
the whole window in the neck) on the same weights and window: losses and the gradient of
every learnable parameter must agree to float rounding. Windows hold a fully padded clip
(skipped) and a partly padded one, so the clip plan's scatter path is covered.
"""
import copy
import weakref

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from losa_plugin.models.necks.spatial_reduction import SpatialReduction
from tests.test_layer_tap_slowfast import randomise, tiny_slowfast

VIT = dict(type='LayerTapViT', clip_len=8, clip_batch=2,
           vit=dict(type='VisionTransformer', img_size=32, patch_size=8, embed_dims=32,
                    depth=3, num_heads=2, mlp_ratio=2, num_frames=8, tubelet_size=2,
                    drop_path_rate=0.3))  # drop path must be off in the frozen backbone
SLOWFAST = dict(type='LayerTapSlowFast', clip_len=16, clip_batch=2, slowfast=tiny_slowfast())
CASES = {'vit': (VIT, 8, 32), 'slowfast': (SLOWFAST, 16, 4 * 8 * 8 + 4 * 2 * 8)}
NUM_CLIPS = 5


def build(case: str, recompute: bool, head_cp: bool = False, gate_init: str = 'random',
          **backbone) -> torch.nn.Module:
    """A tiny LoSA detector; the same seed gives the same weights in every mode."""
    cfg, clip_len, head_in = CASES[case]
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='TALDetector',
        data_preprocessor=dict(type='TALDataPreprocessor', mean=[120.0] * 3,
                               std=[60.0] * 3, pad_multiple=clip_len),
        backbone=dict(cfg, tap_recompute=recompute, **backbone),
        neck=dict(type='LoSANeck', gate_init=gate_init),
        head=dict(type='ActionFormerHead', num_classes=3, in_channels=head_in,
                  embed_dims=32, head_dims=32, arch=(1, 1, 2), n_mha_win_size=5,
                  num_heads=2, drop_path=0.1, with_cp=head_cp,
                  regress_ranges=((0, 4), (4, 8), (8, 10000)))))
    model.init_weights()
    if case == 'slowfast':
        randomise(model.backbone.backbone)
    return model.train()


def window_batch(case: str, seed: int = 1):
    """Two windows of ``NUM_CLIPS`` clips: the first has 1.5 clips of padding (one clip
    skipped, one partly padded), so the clips that run are not a prefix of the batch."""
    _, clip_len, _ = CASES[case]
    gen = torch.Generator().manual_seed(seed)
    frames = NUM_CLIPS * clip_len
    inputs, samples = [], []
    for b, valid in enumerate((frames - clip_len - clip_len // 2, frames)):
        inputs.append(torch.randint(0, 255, (3, valid, 32, 32), generator=gen,
                                    dtype=torch.uint8))
        s = ActionDataSample()
        s.set_metainfo(dict(video_id=f'v{b}', fps=10.0, duration=valid / 10.0,
                            valid_len=valid, feature_stride=2.0, window_offset=1.0,
                            window_start=0))
        gt = InstanceData()
        gt.segments = torch.tensor([[1.0, 4.0], [6.0, 7.5]])
        gt.labels = torch.tensor([0, 2])
        s.gt_instances = gt
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def train_step(model, case: str):
    """Loss and the gradient of every learnable parameter after one backward pass."""
    batch = model.data_preprocessor(copy.deepcopy(window_batch(case)), True)
    torch.manual_seed(2)  # the head's drop path draws the same masks in every mode
    loss, _ = model.parse_losses(model(**batch, mode='loss'))
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()
             if p.requires_grad and p.grad is not None}
    return loss.detach(), grads


def assert_same_step(ref, other):
    (loss0, g0), (loss1, g1) = ref, other
    torch.testing.assert_close(loss1, loss0, rtol=1e-6, atol=0)
    assert set(g1) == set(g0)
    # float32 summation order differs (per micro-batch vs over the window); parameters
    # whose exact gradient is zero (attention key biases) show only that noise
    scale = max(g.abs().max().item() for g in g0.values())
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], rtol=1e-4, atol=1e-6 * scale,
                                   msg=lambda m, n=name: f'{n}: {m}')


@pytest.mark.parametrize('case', sorted(CASES))
def test_loss_and_gradients_equal_the_default_mode(case):
    ref = train_step(build(case, recompute=False), case)
    grads = ref[1]
    # the comparison is meaningful: the spatial blocks and the adapters do learn here
    for key in ('neck.spatial.0.conv.weight', 'neck.spatial_last.norm.weight',
                'neck.short_adapters.0.attn.k_proj.weight'):
        assert grads[key].abs().max() > 1e-6 * max(g.abs().max() for g in grads.values())
    assert_same_step(ref, train_step(build(case, recompute=True), case))


@pytest.mark.parametrize('head_cp', [False, True])
def test_with_the_heads_checkpointing(head_cp):
    ref = train_step(build('vit', recompute=False), 'vit')
    model = build('vit', recompute=True, head_cp=head_cp)
    calls = []
    model.head.projection.stem[0].register_forward_pre_hook(lambda *_: calls.append(1))
    assert_same_step(ref, train_step(model, 'vit'))
    assert len(calls) == (2 if head_cp else 1)  # a checkpointed block runs again


@pytest.mark.parametrize('lowp_mode', ['native', 'autocast'])
def test_bf16_taps(lowp_mode):
    ref_model = build('vit', recompute=False, dtype='bf16', lowp_mode=lowp_mode)
    model = build('vit', recompute=True, dtype='bf16', lowp_mode=lowp_mode)
    assert (model.backbone.lowp is not None) == (lowp_mode == 'native')
    stored = ref_model.backbone(torch.zeros(1, 3, 8, 32, 32)).feats[0]
    assert stored.dtype == torch.bfloat16
    (loss0, g0), (loss1, g1) = train_step(ref_model, 'vit'), train_step(model, 'vit')
    torch.testing.assert_close(loss1, loss0, rtol=1e-6, atol=0)
    # the spatial conv runs in bf16 on both paths; its weight gradient is summed in bf16
    # over a micro-batch here and over the window there
    scale = max(g.abs().max().item() for g in g0.values())
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], rtol=1e-2, atol=3e-4 * scale,
                                   msg=lambda m, n=name: f'{n}: {m}')


def _instrument(model):
    """Count the backbone's micro-batch forwards; keep weak references to the storages
    of every tap it returns and of every tensor the spatial blocks read."""
    calls, storages = [0], []
    backbone = model.backbone
    forward_clips = backbone._forward_clips

    def counted(clips):
        calls[0] += 1
        taps = forward_clips(clips)
        storages.extend(weakref.ref(t.untyped_storage()) for t in taps)
        return taps

    def read(module, args):
        storages.append(weakref.ref(args[0].untyped_storage()))

    backbone._forward_clips = counted
    for m in model.neck.modules():
        if isinstance(m, SpatialReduction):
            m.register_forward_pre_hook(read)

    def alive_bytes():
        return sum(s().nbytes() for s in storages if s() is not None)
    return calls, alive_bytes


@pytest.mark.parametrize('case', sorted(CASES))
def test_taps_are_recomputed_not_stored(case):
    micro_batches = -(-(2 * NUM_CLIPS - 1) // CASES[case][0]['clip_batch'])  # 9 clips run
    for recompute in (False, True):
        model = build(case, recompute)
        batch = model.data_preprocessor(copy.deepcopy(window_batch(case)), True)
        with torch.no_grad():  # without a reducer the backbone returns its taps
            taps = model.backbone(batch['inputs']).feats
        adapted_bytes = sum(t.numel() * t.element_size() for t in taps[:-1])
        calls, alive_bytes = _instrument(model)
        loss, _ = model.parse_losses(model(**batch, mode='loss'))
        assert calls[0] == micro_batches
        between = alive_bytes()  # what stays alive between forward and backward
        loss.backward()
        if recompute:
            # no tap (nor what the spatial blocks read) survives the forward pass; each
            # micro-batch runs the backbone again in the backward pass
            assert between == 0
            assert calls[0] == 2 * micro_batches
        else:
            # the check sees stored taps: at least the adapted layers' full taps
            assert between >= adapted_bytes > 0
            assert calls[0] == micro_batches


def test_identity_at_init_and_inference():
    """With zero gates the recompute neck gives the head-only features exactly; without
    autograd the reducer runs in the clip loop once (no recompute) with the default's
    predictions."""
    model = build('vit', recompute=True, gate_init='zero').eval()
    batch = model.data_preprocessor(copy.deepcopy(window_batch('vit')), False)
    head_only = copy.deepcopy(model)
    head_only.backbone.tap_recompute = False
    with torch.no_grad():
        taps = head_only.backbone(batch['inputs'], head_only._valid_mask(
            batch['data_samples'], batch['inputs'].shape[2], batch['inputs'].device))
        f_n, mask_n = head_only.neck.last_layer(taps)
        calls, _ = _instrument(model)
        feats, mask = model.extract_feat(batch['inputs'], batch['data_samples'])
    assert calls[0] == -(-(2 * NUM_CLIPS - 1) // 2)
    assert torch.equal(mask[:, :mask_n.shape[1]], mask_n)
    assert torch.equal(feats[..., :f_n.shape[-1]], f_n)

    model = build('vit', recompute=True).eval()
    default = build('vit', recompute=False).eval()
    with torch.no_grad():
        got = model.predict(**model.data_preprocessor(copy.deepcopy(window_batch('vit'))))
        ref = default.predict(**default.data_preprocessor(copy.deepcopy(window_batch('vit'))))
    for a, b in zip(got, ref):
        torch.testing.assert_close(a.pred_instances.scores, b.pred_instances.scores,
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(a.pred_instances.segments, b.pred_instances.segments,
                                   rtol=1e-5, atol=1e-5)


def test_without_skipping_padded_clips():
    ref = train_step(build('vit', recompute=False, skip_padded_clips=False), 'vit')
    assert_same_step(ref, train_step(build('vit', recompute=True, skip_padded_clips=False),
                                     'vit'))


@pytest.mark.parametrize('find_unused', [False, True])
def test_under_ddp(tmp_path, find_unused):
    """One process of a gloo group: DDP's gradient hooks fire once per parameter with
    the recomputed micro-batches (non-reentrant checkpointing), all-reduced grads equal
    the default mode's."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    ref = train_step(build('vit', recompute=False), 'vit')
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0,
                            world_size=1)
    try:
        model = build('vit', recompute=True)
        ddp = DistributedDataParallel(model, device_ids=None,
                                      find_unused_parameters=find_unused)
        batch = model.data_preprocessor(copy.deepcopy(window_batch('vit')), True)
        torch.manual_seed(2)
        loss, _ = model.parse_losses(ddp(**batch, mode='loss'))
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()
                 if p.requires_grad and p.grad is not None}
    finally:
        dist.destroy_process_group()
    assert_same_step(ref, (loss.detach(), grads))


def test_configuration_errors():
    with pytest.raises(ValueError, match='frozen=True'):
        MODELS.build(dict(VIT, frozen=False, tap_recompute=True))
    with pytest.raises(ValueError, match='reduce_clip_taps'):
        MODELS.build(dict(type='TALDetector', backbone=dict(VIT, tap_recompute=True),
                          neck=dict(type='LastLayerNeck'),
                          head=dict(type='ActionFormerHead', num_classes=3, in_channels=32,
                                    embed_dims=32, head_dims=32, arch=(1, 1, 2),
                                    n_mha_win_size=5, num_heads=2,
                                    regress_ranges=((0, 4), (4, 8), (8, 10000)))))
    with pytest.raises(ValueError, match='tap_recompute'):
        MODELS.build(dict(type='CachedLayerTap', backbone=dict(VIT, tap_recompute=True),
                          cache_dir='unused'))
    # called without a reducer (a probe, a feature extractor) the backbone stores its taps
    taps = MODELS.build(dict(VIT, tap_recompute=True))(torch.zeros(1, 3, 16, 32, 32))
    assert len(taps.feats) == 3 and taps.clip_reduced is None
