"""Tap cache: taps read back equal the online taps, training from the cache gives the
online loss for the same un-augmented window, and stale / missing caches fail loudly."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmaction.registry import MODELS

import losa_plugin.models.backbones.tap_cache  # noqa: F401  (registers CachedLayerTap)
from losa_plugin.benchmark.train_step import grid_length, random_window
from losa_plugin.datasets.tap_cache_store import TapCacheStore

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STREAM_OPTS = dict(tap_reduce='spatial_mean', pretrained=None)


def _model_cfg(cache_dir=None):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/efficiency/losa_tiny.py')).model.to_dict()
    cfg['backbone'].update(STREAM_OPTS, vit=dict(cfg['backbone']['vit'], depth=2,
                                                 embed_dims=64, num_heads=2))
    cfg['neck']['spatial_cfg'] = dict(mode='mean')
    cfg['head'].update(in_channels=64, proj_drop=0.0, drop_path=0.0)
    if cache_dir is not None:
        cfg['backbone'] = dict(type='CachedLayerTap', backbone=cfg['backbone'],
                               cache_dir=str(cache_dir))
    return cfg


def _build(cfg):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _loss(model, data):
    # the head's loss normaliser is an EMA buffer: start every call from the same value
    model.head.loss_normalizer.fill_(100.0)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    return loss


def test_cached_taps_equal_online_and_reuse(tmp_path):
    online = _build(_model_cfg())
    cached = _build(_model_cfg(tmp_path))
    cached.backbone.inner.load_state_dict(online.backbone.state_dict())
    frames = torch.randn(2, 3, 48, 64, 64, generator=torch.Generator().manual_seed(305))
    mask = torch.ones(2, 48, dtype=torch.bool)
    mask[1, 40:] = False  # the second window's last clip is partly padding
    ref = online.backbone(frames, mask)
    first = cached.backbone(frames, mask)  # computes and writes
    assert (cached.backbone.misses, cached.backbone.hits) == (2, 0)
    second = cached.backbone(frames, mask)  # reads back
    assert (cached.backbone.misses, cached.backbone.hits) == (2, 2)
    for out in (first, second):
        assert out.layer_ids == ref.layer_ids
        assert torch.equal(out.clip_mask, ref.clip_mask)
        for a, b in zip(out.feats, ref.feats):
            assert a.shape == b.shape == (2, 3, 8, 64)  # reduced form [B, T, T_i, C]
            assert torch.equal(a, b)
    # another window content is a miss, not a stale hit
    cached.backbone(frames + 1.0, mask)
    assert cached.backbone.misses == 4


def test_training_from_cache_gives_online_loss(tmp_path):
    online = _build(_model_cfg())
    cached = _build(_model_cfg(tmp_path))
    state = {k.replace('backbone.', 'backbone.inner.', 1) if k.startswith('backbone.') else k: v
             for k, v in online.state_dict().items()}
    cached.load_state_dict(state)
    online.train()
    cached.train()
    raw = random_window(64, 64, 64, 5, grid_length(online, 64), seed=3)
    data = online.data_preprocessor(raw, training=True)
    loss_online = _loss(online, data)
    loss_fill = _loss(cached, data)  # epoch 1: backbone runs, taps written
    loss_cached = _loss(cached, data)  # epoch 2: taps read from disk
    assert cached.backbone.hits == 1 and cached.backbone.misses == 1
    assert torch.allclose(loss_fill, loss_online, rtol=1e-6, atol=0)
    assert torch.allclose(loss_cached, loss_online, rtol=1e-6, atol=0)
    # gradients reach the adapters / head, not the (frozen) backbone
    loss_cached.backward()
    assert all(p.grad is None for p in cached.backbone.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in cached.head.parameters())


def test_store_rejects_other_backbone_and_missing_windows(tmp_path):
    TapCacheStore(str(tmp_path), dict(type='LayerTapViT', layer_ids=[1, 2]))
    with pytest.raises(ValueError, match='meta.json'):
        TapCacheStore(str(tmp_path), dict(type='LayerTapViT', layer_ids=[2]))
    cfg = _model_cfg(tmp_path / 'ro')
    cfg['backbone']['read_only'] = True
    model = _build(cfg)
    with pytest.raises(KeyError, match='read-only'):
        model.backbone(torch.randn(1, 3, 16, 64, 64))


def test_cache_refuses_unfrozen_backbone(tmp_path):
    cfg = _model_cfg(tmp_path)
    cfg['backbone']['backbone']['frozen'] = False
    with pytest.raises(ValueError, match='frozen'):
        _build(cfg)


def test_store_writes_only_the_window_not_the_buffer_it_views(tmp_path):
    # taps are often views of one [B * T, ...] buffer; torch.save would write the whole
    # buffer for each window (a 16-clip batch made every cached clip 16x its size)
    store = TapCacheStore(str(tmp_path), dict(type='LayerTapViT', layer_ids=[1]))
    torch.manual_seed(0)
    buffer = torch.randn(16, 1, 8, 4, 4, 96)  # 16 clips' taps in one storage
    pooled = torch.randn(16, 1, 8, 96)
    one = buffer[3]  # [1, 8, 4, 4, 96]: a contiguous view of clip 3
    assert one.is_contiguous() and one.untyped_storage().nbytes() == buffer.numel() * 4
    store.save('w', (one,), (1,), torch.ones(1, dtype=torch.bool), pooled_last=pooled[3])
    payload = (one.numel() + pooled[3].numel()) * 4  # 49,920 bytes of float32
    assert osp.getsize(store.path('w')) < payload + 4096  # pickle / zip overhead only
    back = store.load('w')
    assert torch.equal(back['feats'][0], one) and torch.equal(back['pooled_last'], pooled[3])
    # loaded taps share one buffer: this window's float32 payload, not the batch's
    assert back['feats'][0].untyped_storage().nbytes() == payload


def test_store_round_trip_of_mixed_dtypes_and_the_unpacked_layout(tmp_path):
    store = TapCacheStore(str(tmp_path))
    g = torch.Generator().manual_seed(1)
    feats = (torch.randn(2, 8, 96, generator=g).bfloat16(),
             torch.randn(2, 8, 3, 3, 64, generator=g),
             torch.randn(2, 4, 32, generator=g).bfloat16())
    clip_mask = torch.tensor([True, False])
    frame_mask = torch.rand(2, 16, generator=g) > 0.3
    pooled = torch.randn(2, 8, 64, generator=g)
    store.save('w', feats, (2, 5, 9), clip_mask, frame_mask=frame_mask, pooled_last=pooled)
    back = store.load('w')
    assert back['layer_ids'] == (2, 5, 9) and len(back['feats']) == 3
    for a, b in zip(back['feats'], feats):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    for name, ref in (('clip_mask', clip_mask), ('frame_mask', frame_mask),
                      ('pooled_last', pooled)):
        assert back[name].dtype == ref.dtype and torch.equal(back[name], ref)
    store.save('bare', feats[:1], (2,), clip_mask)
    bare = store.load('bare')
    assert bare['frame_mask'] is None and bare['pooled_last'] is None
    assert torch.equal(bare['feats'][0], feats[0])
    # a file of the earlier layout (one tensor record each) still loads
    torch.save(dict(feats=list(feats), layer_ids=[2, 5, 9], clip_mask=clip_mask,
                    frame_mask=frame_mask, pooled_last=pooled), store.path('old'))
    old = store.load('old')
    assert all(torch.equal(a, b) for a, b in zip(old['feats'], feats))
    assert torch.equal(old['pooled_last'], pooled) and old['layer_ids'] == (2, 5, 9)
