"""TALDataPreprocessor: padding of the time axis and normalisation, against values built
element by element in numpy."""
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from losa_plugin.models.data_preprocessors.tal_data_preprocessor import TALDataPreprocessor


def _reference_frames(frames, target, mean, std):
    """[3, F_i, H, W] uint8 -> [B, 3, target, H, W]: zero-pad F, then (x - mean) / std."""
    out = np.zeros((len(frames), 3, target) + frames[0].shape[2:], np.float32)
    for b, x in enumerate(frames):
        out[b, :, :x.shape[1]] = x
    for c in range(3):
        out[:, c] = (out[:, c] - np.float32(mean[c])) / np.float32(std[c])
    return out


def test_frames_padded_to_multiple_and_normalised():
    rng = np.random.default_rng(0)
    mean, std = [120.0, 110.0, 100.0], [60.0, 55.0, 50.0]
    frames = [rng.integers(0, 256, (3, f, 8, 6), dtype=np.uint8) for f in (20, 7, 32)]
    samples = [BaseDataElement() for _ in frames]
    samples[2].set_metainfo(dict(valid_len=30))  # a sampler's own valid_len is kept
    pre = TALDataPreprocessor(mean=mean, std=std, pad_multiple=16)
    out = pre(dict(inputs=[torch.from_numpy(x) for x in frames], data_samples=samples))
    batch = out['inputs']
    assert batch.dtype == torch.float32 and tuple(batch.shape) == (3, 3, 32, 8, 6)
    np.testing.assert_array_equal(batch.numpy(), _reference_frames(frames, 32, mean, std))
    # the padding holds the normalised zero, like every padded frame
    assert batch[1, 0, 7:].eq((0 - 120.0) / 60.0).all()
    assert [s.valid_len for s in out['data_samples']] == [20, 7, 30]


def test_features_padded_without_normalisation_and_fixed_len():
    rng = np.random.default_rng(1)
    feats = [rng.standard_normal((5, t)).astype(np.float32) for t in (9, 4)]
    pre = TALDataPreprocessor(fixed_len=12)
    batch = pre(dict(inputs=[torch.from_numpy(x) for x in feats]))['inputs']
    ref = np.zeros((2, 5, 12), np.float32)
    ref[0, :, :9], ref[1, :, :4] = feats
    np.testing.assert_array_equal(batch.numpy(), ref)
    with pytest.raises(ValueError, match='fixed_len=3'):
        TALDataPreprocessor(fixed_len=3)(dict(inputs=[torch.from_numpy(feats[0])]))
    with pytest.raises(ValueError, match='both mean and std'):
        TALDataPreprocessor(mean=[1.0, 1.0, 1.0])


def test_reused_buffers_do_not_leak_between_batches():
    # an allocator handing back the previous batch's memory must not show through the
    # padding: every padded step is exactly the normalised zero
    pre = TALDataPreprocessor(mean=[0.0] * 3, std=[1.0] * 3, pad_multiple=8)
    full = torch.full((3, 16, 4, 4), 255, dtype=torch.uint8)
    for _ in range(3):
        pre(dict(inputs=[full, full]))
        short = pre(dict(inputs=[full, full[:, :3]]))['inputs']
        assert short[1, :, 3:].eq(0).all() and short[1, :, :3].eq(255).all()
