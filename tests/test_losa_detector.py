"""LoSA end to end on tiny backbones: a training step never touches the backbone, the
adapters, gates and head learn, and predict returns segments in seconds."""
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from tests.test_layer_tap_slowfast import randomise, tiny_slowfast

TINY_VIT = dict(type='LayerTapViT', clip_len=8, clip_batch=2,
                vit=dict(type='VisionTransformer', img_size=32, patch_size=8, embed_dims=32,
                         depth=3, num_heads=2, mlp_ratio=2, num_frames=8, tubelet_size=2))
TINY_SLOWFAST = dict(type='LayerTapSlowFast', clip_len=16, clip_batch=2, slowfast=tiny_slowfast())


def tiny_detector(backbone: dict, neck: dict, clip_len: int) -> torch.nn.Module:
    head_channels = _head_in_channels(backbone)
    return MODELS.build(dict(
        type='TALDetector',
        data_preprocessor=dict(type='TALDataPreprocessor', mean=[120.0] * 3, std=[60.0] * 3,
                               pad_multiple=clip_len),
        backbone=backbone,
        neck=neck,
        head=dict(type="ActionFormerHead", num_classes=3, in_channels=head_channels, embed_dims=32,
                  head_dims=32, arch=(1, 1, 2), n_mha_win_size=5, num_heads=2, drop_path=0.0,
                  regress_ranges=((0, 4), (4, 8), (8, 10000)))))


def make_batch(num_frames: int, clip_len: int, cells_per_clip: int, size: int = 32):
    """Two windows (the second shorter: padded), with ground truth in grid units."""
    inputs, samples = [], []
    stride = clip_len // cells_per_clip
    for b, frames in enumerate((num_frames, num_frames - clip_len)):
        inputs.append(torch.randint(0, 255, (3, frames, size, size), dtype=torch.uint8))
        s = ActionDataSample()
        s.set_metainfo(dict(video_id=f'v{b}', fps=10.0, duration=frames / 10.0,
                            valid_len=frames, feature_stride=float(stride),
                            window_offset=0.5 * stride, window_start=0))
        gt = InstanceData()
        gt.segments = torch.tensor([[1.0, 4.0], [6.0, 7.5]])
        gt.labels = torch.tensor([0, 2])
        s.gt_instances = gt
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _head_in_channels(backbone_cfg):
    return 32 if backbone_cfg is TINY_VIT else 4 * 8 * 8 + 4 * 2 * 8  # slow4 ++ fast4


CASES = {
    'vit': (TINY_VIT, 8, 4),
    'slowfast': (TINY_SLOWFAST, 16, 4),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_losa_training_step_leaves_backbone_untouched(case):
    backbone_cfg, clip_len, cells = CASES[case]
    torch.manual_seed(0)
    model = tiny_detector(backbone_cfg, dict(type='LoSANeck'), clip_len)
    if case == 'slowfast':
        randomise(model.backbone.backbone)
    before = copy.deepcopy(model.backbone.state_dict())
    model.train()
    assert not model.backbone.backbone.training  # frozen backbone stays in eval mode
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    data = make_batch(4 * clip_len, clip_len, cells)
    for step in range(2):
        optim.zero_grad()
        batch = model.data_preprocessor(copy.deepcopy(data), True)
        losses = model(**batch, mode='loss')
        sum(losses.values()).backward()
        for name, p in model.backbone.named_parameters():
            assert not p.requires_grad and p.grad is None, name
        gates = [p for n, p in model.neck.named_parameters() if 'gates' in n]
        assert gates and all(g.grad is not None and g.grad.abs().sum() > 0 for g in gates)
        for n, p in model.head.named_parameters():
            assert p.grad is not None, n
        if step == 1:  # the gates have moved off zero, so the adapters now learn
            adapters = [p for n, p in model.neck.named_parameters() if 'adapters' in n]
            assert adapters and all(p.grad is not None for p in adapters)
            assert sum(p.grad.abs().sum() for p in adapters) > 0
        optim.step()
    after = model.backbone.state_dict()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k  # weights and BN statistics unchanged


@pytest.mark.parametrize('case', sorted(CASES))
def test_losa_predict_gives_seconds(case):
    backbone_cfg, clip_len, cells = CASES[case]
    torch.manual_seed(0)
    model = tiny_detector(backbone_cfg, dict(type='LoSANeck'), clip_len)
    model.eval()
    data = make_batch(4 * clip_len, clip_len, cells)
    with torch.no_grad():
        out = model.test_step(data)
    assert len(out) == 2
    for sample in out:
        pred = sample.pred_instances
        assert pred.segments.shape[1] == 2 and len(pred.scores) == len(pred.labels) > 0
        assert (pred.segments[:, 0] >= 0).all() and (pred.segments[:, 1] <= sample.duration).all()
        assert (pred.segments[:, 1] >= pred.segments[:, 0]).all()


@pytest.mark.parametrize('neck', ['LoSANeck', 'LastLayerNeck'])
@pytest.mark.parametrize('case', sorted(CASES))
def test_tokens_of_a_partly_padded_last_clip_are_masked(case, neck):
    """A window of 3.5 clips (the last clip half padding): only the tokens holding valid
    frames reach the head (14 of 16 for both backbones: 4 tokens a clip), and the masked
    ones are zero. Before token masks the whole last clip counted as valid (16)."""
    backbone_cfg, clip_len, cells = CASES[case]
    torch.manual_seed(0)
    model = tiny_detector(backbone_cfg, dict(type=neck), clip_len)
    model.eval()
    valid = 4 * clip_len - clip_len // 2
    sample = ActionDataSample()
    sample.set_metainfo(dict(valid_len=valid))
    frames = torch.randn(1, 3, 4 * clip_len, 32, 32)
    with torch.no_grad():
        feats, mask = model.extract_feat(frames, [sample])
    n_valid = 4 * cells - cells // 2
    assert int(mask.sum()) == n_valid and mask[0, :n_valid].all()
    assert torch.count_nonzero(feats[0, :, n_valid:]) == 0
    assert (feats[0, :, :n_valid].abs().sum(0) > 0).all()
