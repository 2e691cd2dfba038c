"""External video-level class scores (ActionFormer / OpenTAD ActivityNet protocol): the
fusion on a hand case, the accepted file formats, bad input, TALMetric end to end, the
class-agnostic dataset option and the ActivityNet configs' switch."""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS, METRICS
from mmengine.config import Config

from tests.test_tal_metric import dets, gt_of, write_ann
from losa_plugin.evaluation import (ExternalClassScores, evaluate_detections,
                                    fuse_class_scores)

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CLASSES = ['run', 'jump', 'swim']
# ground truth: v1 has a 'run' and a 'jump', v2 a 'swim'
VIDEOS = {'v1': [(0, 10, 0), (20, 30, 1)], 'v2': [(5, 15, 2)]}
# class-agnostic detections (label 0), file order
ROWS = [('v1', 0, 10, .9, 0), ('v1', 20, 30, .5, 0), ('v2', 5, 15, .8, 0)]
# CUHK / OpenTAD format; its class order differs from the evaluation's on purpose
CUHK = {'class': ['swim', 'run', 'jump'],
        'results': {'v1': [0.1, 0.7, 0.2], 'v2': [0.6, 0.3, 0.1]}}


def write(tmp_path, content, name='scores.json'):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def as_rows(d):
    return [(v, float(s[0]), float(s[1]), round(float(sc), 12), CLASSES[int(lab)])
            for v, s, sc, lab in zip(d.video_ids, d.segments, d.scores, d.labels)]


def test_hand_case(tmp_path):
    scores = ExternalClassScores(write(tmp_path, CUHK), CLASSES)
    fused = fuse_class_scores(dets(ROWS), scores, topk=2)
    # per video, per top class (best first), every segment: det score x class score
    assert as_rows(fused) == [
        ('v1', 0, 10, .63, 'run'), ('v1', 20, 30, .35, 'run'),
        ('v1', 0, 10, .18, 'jump'), ('v1', 20, 30, .1, 'jump'),
        ('v2', 5, 15, .48, 'swim'), ('v2', 5, 15, .24, 'run')]
    # AP at 0.5 by hand: run 1 (.63 TP first), jump 1/2 (FP .18 before TP .10), swim 1
    r = evaluate_detections(gt_of(tmp_path, VIDEOS), fused, (0.5, ))
    assert r.mAP[0] == pytest.approx((1 + 0.5 + 1) / 3, abs=1e-15)
    # top-1: 'jump' is never predicted
    top1 = fuse_class_scores(dets(ROWS), scores, topk=1)
    assert evaluate_detections(gt_of(tmp_path, VIDEOS), top1, (0.5, )).mAP[0] == \
        pytest.approx(2 / 3, abs=1e-15)
    # ActionFormer's sqrt(det x cls): other scores, the same ranking, the same mAP
    root = fuse_class_scores(dets(ROWS), scores, topk=2, fusion='sqrt')
    assert np.allclose(root.scores, np.sqrt(fused.scores), rtol=0, atol=1e-15)
    assert np.array_equal(evaluate_detections(gt_of(tmp_path, VIDEOS), root, (0.5, 0.7)).ap,
                          evaluate_detections(gt_of(tmp_path, VIDEOS), fused, (0.5, 0.7)).ap)


def test_formats_agree(tmp_path):
    reference = as_rows(fuse_class_scores(
        dets(ROWS), ExternalClassScores(write(tmp_path, CUHK), CLASSES)))
    in_eval_order = {'v1': [0.7, 0.2, 0.1], 'v2': [0.3, 0.1, 0.6]}
    variants = [
        {'results': in_eval_order},                    # ActionFormer, index = class id
        in_eval_order,                                 # ActionFormer, bare mapping
        {'classes': CUHK['class'], 'results': CUHK['results']},
        {'results': {v: [{'label': c, 'score': s} for c, s in zip(CUHK['class'], sc)]
                     for v, sc in CUHK['results'].items()}},  # classification submission
        {'class': CUHK['class'],                       # 'v_' prefixed keys
         'results': {f'v_{v}': sc for v, sc in CUHK['results'].items()}},
    ]
    for k, content in enumerate(variants):
        scores = ExternalClassScores(write(tmp_path, content, f's{k}.json'), CLASSES)
        assert as_rows(fuse_class_scores(dets(ROWS), scores)) == reference, content
    # a class missing from a video's list cannot be chosen for it
    partial = {'results': {'v1': [{'label': 'jump', 'score': 0.2}],
                           'v2': [{'label': 'swim', 'score': 0.6}]}}
    fused = fuse_class_scores(dets(ROWS), ExternalClassScores(write(tmp_path, partial),
                                                              CLASSES))
    assert [r[4] for r in as_rows(fused)] == ['jump', 'jump', 'swim']


def test_ties_between_classes_follow_tie_order(tmp_path):
    content = {'results': {'v1': [0.4, 0.4, 0.2], 'v2': [0.1, 0.5, 0.5]}}
    scores = ExternalClassScores(write(tmp_path, content), CLASSES)
    assert scores.topk('v1', 1)[0].tolist() == [0]  # stable: the lower class index
    assert scores.topk('v2', 1)[0].tolist() == [1]
    numpy_first = np.argsort(np.array([0.4, 0.4, 0.2]))[::-1][0]
    assert scores.topk('v1', 1, 'numpy')[0].tolist() == [numpy_first]


def test_bad_input(tmp_path):
    def scores_of(content, name='bad.json'):
        return ExternalClassScores(write(tmp_path, content, name), CLASSES)

    cases = [
        ('not json', 'not valid JSON'),
        ([1, 2], 'expected a JSON object'),
        ({'results': {}}, "'results' must map"),
        ({'results': {'v1': [0.1, 0.2]}}, r"video 'v1': 2 scores, expected 3 as in the "
                                          r'evaluation classes'),
        ({'class': ['run', 'fly'], 'results': {'v1': [.1, .2]}}, "not among the 3 "
                                                                 r"evaluation classes.*fly"),
        ({'class': ['run', 'jump'], 'results': {'v1': [.1, .2, .3]}}, "expected 2 as in "
                                                                      "the file's 'class'"),
        ({'results': {'v1': [0.1, 'x', 0.3]}}, "video 'v1': class scores must be numbers"),
        ({'results': {'v1': [{'label': 'fly', 'score': 1}]}}, "entry 0: label 'fly'"),
        ({'results': {'v1': []}}, 'non-empty list'),
    ]
    for content, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            scores_of(content)
        assert 'bad.json' in str(err.value)
    with pytest.raises(FileNotFoundError, match='nope.json'):
        ExternalClassScores(str(tmp_path / 'nope.json'), CLASSES)
    scores = scores_of({'results': {'v1': [0.7, 0.2, 0.1]}}, 'only_v1.json')
    with pytest.raises(KeyError, match=r"only_v1.json: no class scores for 1 of 2 videos.*"
                                       r"'v2'"):
        fuse_class_scores(dets(ROWS), scores)
    with pytest.raises(ValueError, match='fusion must be one of'):
        fuse_class_scores(dets(ROWS), scores, fusion='mean')
    with pytest.raises(ValueError, match='topk must be a positive int'):
        fuse_class_scores(dets(ROWS), scores, topk=0)
    logits = scores_of({'results': {'v1': [-1.0, 2.0, 0.5], 'v2': [1, 2, 3]}}, 'logits.json')
    with pytest.raises(ValueError, match="fusion='sqrt' needs non-negative scores; "
                                         "video 'v1'"):
        fuse_class_scores(dets(ROWS), logits, topk=3, fusion='sqrt')


def test_tal_metric_with_ext_scores(tmp_path):
    ann = write_ann(tmp_path / 'ann.json', VIDEOS)
    score_file = write(tmp_path, CUHK)
    out = str(tmp_path / 'fused.json')
    metric = METRICS.build(dict(type='TALMetric', ann_file=ann, subset='Test',
                                class_names=CLASSES, tiou_thresholds=(0.5, ),
                                merge_nms=None, ext_score_file=score_file, out_file=out))
    samples = [dict(video_id=v, pred_instances=dict(
        segments=torch.tensor([[s, e] for u, s, e, _, _ in ROWS if u == v], dtype=torch.float64),
        scores=torch.tensor([sc for u, _, _, sc, _ in ROWS if u == v], dtype=torch.float64),
        labels=torch.zeros(sum(u == v for u, *_ in ROWS), dtype=torch.int64)))
        for v in ('v1', 'v2')]
    metric.process(None, samples)
    result = metric.compute_metrics(metric.results)
    assert result['average_mAP'] == pytest.approx(2.5 / 3, abs=1e-12)
    with open(out) as f:
        dumped = json.load(f)['results']
    assert [d['label'] for d in dumped['v2']] == ['swim', 'run']
    assert dumped['v2'][0]['score'] == pytest.approx(0.48, abs=1e-12)
    with pytest.raises(ValueError, match='ext_score_fusion must be one of'):
        METRICS.build(dict(type='TALMetric', ann_file=ann, subset='Test', class_names=CLASSES,
                           ext_score_file=score_file, ext_score_fusion='max'))
    with pytest.raises(FileNotFoundError, match='missing.json'):  # at build, not at test
        METRICS.build(dict(type='TALMetric', ann_file=ann, subset='Test', class_names=CLASSES,
                           ext_score_file=str(tmp_path / 'missing.json')))


def test_class_agnostic_dataset(tmp_path):
    # two segments with the same bounds and different labels stay two (duplicates are
    # removed on the real labels first, as ActionFormer); a true duplicate goes
    database = {'v1': dict(subset='training', duration=40.0, fps=10.0, annotations=[
        dict(segment=[0, 10], label='run'), dict(segment=[0, 10], label='jump'),
        dict(segment=[20, 30], label='swim'), dict(segment=[20, 30], label='swim')])}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=database)))
    os.makedirs(tmp_path / 'feats')
    np.save(tmp_path / 'feats' / 'v1.npy', np.zeros((20, 2), np.float32))
    common = dict(type='ActivityNetTALDataset', ann_file=str(ann), class_names=CLASSES,
                  data_prefix=dict(feature=str(tmp_path / 'feats')), default_fps=10.0)
    plain = DATASETS.build(common)
    agnostic = DATASETS.build(dict(common, class_agnostic=True))
    info_plain, info = plain.get_data_info(0), agnostic.get_data_info(0)
    assert sorted(info_plain['labels'].tolist()) == [0, 1, 2]
    assert info['labels'].tolist() == [0, 0, 0]
    assert np.array_equal(info['segments'], info_plain['segments'])
    assert agnostic.metainfo['classes'] == ('action', )
    assert agnostic.metainfo['annotation_classes'] == tuple(CLASSES)
    assert plain.metainfo['classes'] == tuple(CLASSES)


ANET_CONFIGS = ['configs/losa/losa_videomaev2-b_activitynet13.py',
                'configs/losa/losa_videomaev2-g_activitynet13.py',
                'configs/head_only/actionformer_tsp_activitynet13_features.py']


def _config_with(tmp_path, rel, score_file):
    """The config with its ext_score_file line set, loaded from a copy whose _base_
    paths point back into the repository."""
    src = osp.join(ROOT, rel)
    text = open(src).read()
    assert text.count('ext_score_file = None\n') == 1
    text = text.replace('ext_score_file = None\n', f'ext_score_file = {score_file!r}\n')
    text = re.sub(r"'(\.\./[^']+)'", lambda m: repr(osp.normpath(osp.join(osp.dirname(src),
                                                                           m.group(1)))),
                  text)
    copy = tmp_path / osp.basename(rel)
    copy.write_text(text)
    return Config.fromfile(str(copy))


@pytest.mark.parametrize('rel', ANET_CONFIGS)
def test_activitynet_configs_switch(tmp_path, rel):
    default = Config.fromfile(osp.join(ROOT, rel))
    assert default.model.head.num_classes == 200
    assert default.train_dataloader.dataset.class_agnostic is False
    assert default.val_evaluator.ext_score_file is None
    assert default.test_evaluator.ext_score_file is None
    cfg = _config_with(tmp_path, rel, 'data/cuhk_val_simp_7.json')
    assert cfg.model.head.num_classes == 1
    assert cfg.train_dataloader.dataset.class_agnostic is True
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.type == 'TALMetric' and evaluator.ext_score_topk == 2
        assert evaluator.ext_score_file == 'data/cuhk_val_simp_7.json'
        assert evaluator.ann_file == default.val_evaluator.ann_file
    # nothing else moved
    for key in ('optim_wrapper', 'param_scheduler', 'val_dataloader'):
        assert cfg[key] == default[key], key
    head, head0 = dict(cfg.model.head), dict(default.model.head)
    head.pop('num_classes'), head0.pop('num_classes')
    assert head == head0
