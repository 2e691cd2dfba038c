"""The invariant-built regime's pretraining: gradient reversal, the three losses against a
hand computation, one step training every part, merged-class validation, the checkpoint
loading into LayerTapViT, and the regime's pretraining key."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

from losa_plugin.synthetic import benchmark_steps as steps
from losa_plugin.synthetic.benchmark import FULL
from losa_plugin.synthetic.gradient_reversal import reverse_gradient
from losa_plugin.synthetic.invariance_recognizer import InvariancePretrainRecognizer
from losa_plugin.synthetic.pretrain_step import plan_pretraining, pretrain_info
from losa_plugin.synthetic.regimes import DIRECTED_CLASSES, MERGED_PAIRS, REGIMES
from losa_plugin.synthetic.shipped_backbones import key_fields, pretrain_key

# a tiny ViT: 4-frame clips of 32 x 32, tubelets 2 x 16 x 16 -> T = 2, 2 x 2 tokens a step
TINY_VIT = dict(type='VisionTransformer', img_size=32, patch_size=16, embed_dims=16, depth=3,
                num_heads=2, mlp_ratio=2, qkv_bias=True, num_frames=4, tubelet_size=2,
                drop_path_rate=0.0, norm_cfg=dict(type='LN', eps=1e-6), use_mean_pooling=True)
LABELS = [3, 0, 5, 1, 4, 2, 2, 5]  # directed labels, every class present


def _tiny(aux_block=2, **kwargs):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='InvariancePretrainRecognizer', backbone=TINY_VIT,
        cls_head=dict(type='TimeSformerHead', num_classes=3, in_channels=16,
                      average_clips='prob', dropout_ratio=0.0),
        aux_block=aux_block, **kwargs))
    model.init_weights()
    return model


def _batch(seed=1):
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(len(LABELS), 1, 3, 4, 32, 32, generator=gen)
    return inputs, [ActionDataSample().set_gt_label(y) for y in LABELS]


def _hand_forward(model, inputs, aux_block):
    """Main logits, directed logits from block ``aux_block`` and F_N per temporal step,
    computed from the ViT's parts without the recognizer's code."""
    vit = model.backbone
    x = vit.patch_embed(inputs[:, 0])[0] + vit.pos_embed
    outs = []
    for blk in vit.blocks:
        x = blk(x)
        outs.append(x)
    n, c = x.shape[0], x.shape[-1]
    grid = lambda tokens: tokens.reshape(n, 2, 2, 2, c)  # noqa: E731  [N, T, h, w, C]
    main_logits = model.cls_head.fc_cls(vit.fc_norm(x.mean(1)))
    aux_feat = grid(outs[aux_block - 1]).mean(dim=(2, 3))  # [N, T, C]
    aux_logits = aux_feat.reshape(n, -1) @ model.aux_head.weight.T + model.aux_head.bias
    f_n = vit.fc_norm(grid(outs[-1]).mean(dim=(2, 3)))  # [N, T, C]
    return main_logits, aux_logits, f_n


def test_gradient_reversal_reverses_and_scales():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = torch.tensor([0.5, 4.0, -1.0])
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.15, -1.2, 0.3]), atol=1e-7, rtol=0)
    x.grad = None
    (reverse_gradient(x, 0.0) * w).sum().backward()
    assert torch.equal(x.grad, torch.zeros(3))
    with pytest.raises(ValueError, match='scale'):
        reverse_gradient(x, -1.0)


def test_directed_classes_are_ordered_in_mirror_pairs():
    # the recognizer's targets: pair = label // 2, direction = label % 2
    for label, name in enumerate(DIRECTED_CLASSES):
        assert MERGED_PAIRS[label // 2][1][label % 2] == name


def test_losses_equal_a_hand_computation():
    model = _tiny(aux_block=2, aux_weight=0.7, adv_weight=1.3, adv_lambda=0.5)
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    main, aux, f_n = _hand_forward(model, inputs, aux_block=2)
    y = torch.tensor(LABELS)
    adv = model.adversary(f_n.reshape(len(LABELS), -1))
    assert torch.allclose(losses['loss_cls'], F.cross_entropy(main, y // 2), atol=1e-6)
    assert torch.allclose(losses['loss_aux'], 0.7 * F.cross_entropy(aux, y), atol=1e-6)
    assert torch.allclose(losses['loss_adv'], 1.3 * F.cross_entropy(adv, y % 2), atol=1e-6)
    assert float(losses['adv_acc']) == float((adv.argmax(1) == y % 2).float().mean())
    assert float(losses['aux_acc']) == float((aux.argmax(1) == y).float().mean())
    assert float(losses['top1_acc']) == float((main.argmax(1) == y // 2).float().mean())
    # the hooks are gone after the call
    assert all(not blk._forward_hooks for blk in model.backbone.blocks)
    # the targets matter: other labels change each loss
    other = model.loss(inputs, [ActionDataSample().set_gt_label((v + 1) % 6) for v in LABELS])
    for k in ('loss_cls', 'loss_aux', 'loss_adv'):
        assert abs(other[k].item() - losses[k].item()) > 1e-4, k


def test_adversary_sees_the_head_only_features(tmp_path):
    # F_N as LayerTapViT's pooled_last (what head-only trains on), not another pooling
    model = _tiny()
    inputs, samples = _batch()
    seen = {}
    model.adversary[0].register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    model.loss(inputs, samples)
    path = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    tap = MODELS.build(dict(type='LayerTapViT', vit=TINY_VIT, clip_len=4, pretrained=path,
                            fused_attention=False))
    tap.init_weights()
    with torch.no_grad():
        pooled = tap(inputs[:, 0]).pooled_last  # [N, 1 clip, T, C]
    assert pooled.shape == (len(LABELS), 1, 2, 16)
    assert torch.allclose(seen['x'].detach(), pooled.reshape(len(LABELS), -1), atol=1e-5)


def test_reversal_reaches_the_backbone_and_not_the_adversary():
    model = _tiny(adv_lambda=0.5, adv_weight=2.0)
    inputs, samples = _batch()
    loss_adv = model.loss(inputs, samples)['loss_adv']
    _, _, f_n = _hand_forward(model, inputs, aux_block=2)
    plain = 2.0 * F.cross_entropy(model.adversary(f_n.reshape(len(LABELS), -1)),
                                  torch.tensor(LABELS) % 2)
    last = list(model.backbone.blocks[-1].parameters()) + list(
        model.backbone.fc_norm.parameters())
    adv = list(model.adversary.parameters())
    got = torch.autograd.grad(loss_adv, last + adv)
    want = torch.autograd.grad(plain, last + adv)
    for g, w in zip(got[:len(last)], want[:len(last)]):  # backbone: -lambda x
        assert w.abs().max() > 1e-6 and torch.allclose(g, -0.5 * w, atol=1e-7, rtol=1e-4)
    for g, w in zip(got[len(last):], want[len(last):]):  # adversary: descends its loss
        assert torch.allclose(g, w, atol=1e-7, rtol=1e-4)


def test_one_step_moves_backbone_heads_and_adversary():
    model = _tiny()
    inputs, samples = _batch()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = model.loss(inputs, samples)
    parsed, _ = model.parse_losses(losses)
    total = losses['loss_cls'] + losses['loss_aux'] + losses['loss_adv']
    assert torch.allclose(parsed, total)  # accuracies are logged, not summed
    parsed.backward()
    optim.step()
    for prefix in ('backbone.patch_embed', 'backbone.blocks.0.', 'backbone.blocks.2.',
                   'backbone.fc_norm', 'cls_head.', 'aux_head.', 'adversary.0.',
                   'adversary.2.'):
        moved = [k for k, v in model.named_parameters()
                 if k.startswith(prefix) and not torch.equal(v, before[k])]
        assert moved, prefix


def test_predict_gives_merged_scores_and_labels():
    from mmaction.evaluation import AccMetric
    model = _tiny().eval()
    inputs, samples = _batch()
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
        main, _, _ = _hand_forward(model, inputs, aux_block=2)
    y = torch.tensor(LABELS)
    scores = torch.stack([d.pred_score for d in out])
    assert scores.shape == (len(LABELS), 3)
    assert torch.allclose(scores, main.softmax(1), atol=1e-6)
    assert [int(d.gt_label) for d in out] == (y // 2).tolist()
    assert [int(d.directed_label) for d in out] == LABELS
    with torch.no_grad():  # predicting again on the same samples maps from the directed label
        again = model(inputs, out, mode='predict')
    assert [int(d.gt_label) for d in again] == (y // 2).tolist()
    metric = AccMetric()
    metric.process(None, [d.to_dict() for d in out])
    acc = metric.compute_metrics(metric.results)['top1']
    assert acc == pytest.approx(float((main.argmax(1) == y // 2).float().mean()))


def test_bad_labels_and_settings_are_named():
    model = _tiny()
    inputs, _ = _batch()
    with pytest.raises(ValueError, match='0..5'):
        model.loss(inputs, [ActionDataSample().set_gt_label(6)] * len(LABELS))
    with pytest.raises(ValueError, match='aux_block=4'):
        _tiny(aux_block=4)
    with pytest.raises(ValueError, match='one clip a sample'):
        model.loss(inputs.repeat(1, 2, 1, 1, 1, 1), _batch()[1])


def _regime_model():
    regime = REGIMES['invariant-built']
    init_default_scope('mmaction')
    cfg = Config.fromfile(regime.pretrain_config)
    cfg.merge_from_dict(regime.pretrain_model_overrides())
    return regime, cfg


def test_regime_checkpoint_loads_into_layer_tap_vit(tmp_path):
    regime, cfg = _regime_model()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert isinstance(model, InvariancePretrainRecognizer)
    assert len(model.backbone.blocks) == 8 and model.aux_block == 4
    assert model.aux_head.out_features == len(regime.pretrain_cfg().label_names) == 6
    assert model.cls_head.num_classes == len(regime.pretrain_val_classes) == 3
    assert model.cls_head.in_channels == 64
    state = model.state_dict()
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    tap = MODELS.build(dict(type='LayerTapViT', vit=regime.vit(), clip_len=16, pretrained=path))
    tap.init_weights()
    for k, v in tap.backbone.state_dict().items():
        assert torch.equal(v, state['backbone.' + k]), k


def _spec(regime, out_dir='work_dirs/synthetic_benchmark'):
    tag = f'{FULL.name}-s{FULL.data_seed}'
    clips = steps.trimmed_dir(osp.join(out_dir, 'data', tag), regime)
    data = steps.data_paths(osp.join(out_dir, 'data', tag, regime.name, 'untrimmed'), clips,
                            len(regime.tal_cfg().label_names))
    data['num_classes'] = len(regime.pretrain_cfg().label_names)
    return steps.pretrain_spec(regime, data, osp.join(out_dir, 'pretrain', tag, regime.name),
                               FULL.pretrain_epochs, FULL.pretrain_hold, FULL.pretrain_decay,
                               FULL.data_seed, FULL.threads)


def test_regime_key_covers_its_recognizer_and_leaves_the_others():
    built, invariant = REGIMES['invariant-built'], REGIMES['invariant']
    spec = _spec(built)
    assert spec['config'] == built.pretrain_config
    assert 'model.cls_head.num_classes' not in spec['overrides']  # its config sets 3
    fields = key_fields(built, spec, FULL.num_per_class, FULL.data_seed)
    assert fields['model']['type'] == 'InvariancePretrainRecognizer'
    assert fields['model']['cls_head']['num_classes'] == 3
    assert fields['model']['aux_block'] == 4 and fields['model']['adv_lambda'] == 1.0
    key = pretrain_key(fields)
    assert key != pretrain_key(key_fields(invariant, _spec(invariant), FULL.num_per_class,
                                          FULL.data_seed))
    # a change to the recognizer's settings changes the key
    spec['overrides']['model.adv_lambda'] = 0.5
    assert pretrain_key(key_fields(built, spec, FULL.num_per_class, FULL.data_seed)) != key
    # the default pretraining config and class override of the other regimes are as before:
    # their shipped backbones are still found
    for name in ('aligned', 'transfer'):
        spec = _spec(REGIMES[name])
        assert spec['config'] == steps.PRETRAIN_CONFIG
        assert spec['overrides']['model.cls_head.num_classes'] == 5
        plan = plan_pretraining(REGIMES[name], spec, FULL.num_per_class, FULL.data_seed)
        assert plan.shipped is not None, name


def test_pretraining_info_names_the_validated_classes():
    # validation scores the pairs (chance 1/3), not the clips' six directed labels
    result = dict(val_history=[dict(epoch=1, **{'acc/top1': 0.4})])
    info = pretrain_info(result, REGIMES['invariant-built'], 'x.pth')
    assert info['classes'] == ['Move', 'Rotate', 'Scale'] and info['num_classes'] == 3
    info = pretrain_info(result, REGIMES['invariant'], 'x.pth')  # merged by the clips' labels
    assert info['classes'] == ['Move', 'Rotate', 'Scale']
    assert pretrain_info(result, REGIMES['aligned'], 'x.pth')['num_classes'] == 5
