"""Recall@1x / @5x (ActionFormer's THUMOS-14 recall) against a plain re-implementation
of its definition, on a hand case and on A2Net's released THUMOS-14 detections; and in
TALMetric's output."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from losa_plugin.datasets.tal_annotation import load_tal_annotations
from losa_plugin.evaluation import TALMetric
from losa_plugin.evaluation.detection_eval import Detections, flatten_ground_truth
from losa_plugin.evaluation.results_io import load_submission
from losa_plugin.evaluation.topkx_recall import topkx_recall
from tests.conftest import SHARED_DATA

THUMOS = osp.join(SHARED_DATA, 'thumos14.json')
TIOUS = (0.3, 0.4, 0.5, 0.6, 0.7)


def _tiou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else float('nan')


def reference_recall(gt_by_video, preds_by_video, tious, top_k):
    """Per class: in each video with x ground-truth segments of it, the k*x best-scored
    detections of that class (Python's stable sort: ties in list order); a segment is
    recalled when one of them reaches the tIoU. Mean over the classes. Inputs map
    video -> list of (label, start, end[, score])."""
    classes = sorted({g[0] for gts in gt_by_video.values() for g in gts})
    out = np.zeros((len(tious), len(top_k)))
    for c in classes:
        hit, total = np.zeros((len(tious), len(top_k))), 0
        for vid, gts in gt_by_video.items():
            g = [x for x in gts if x[0] == c]
            if not g:
                continue
            total += len(g)
            p = sorted((x for x in preds_by_video.get(vid, []) if x[0] == c),
                       key=lambda x: -x[3])
            for i, t in enumerate(tious):
                for j, k in enumerate(top_k):
                    top = p[:k * len(g)]
                    hit[i, j] += sum(any(_tiou(q[1:3], s[1:3]) >= t for q in top) for s in g)
        out += hit / total
    return out / len(classes)


def test_hand_case():
    # one class; video a: 2 segments, 4 detections; video b: 1 segment, 1 detection
    gt = [dict(video_id='a', segments=np.array([[0., 10.], [20., 30.]]),
               labels=np.array([0, 0]), class_names=['x']),
          dict(video_id='b', segments=np.array([[5., 6.]]), labels=np.array([0]),
               class_names=['x'])]
    dets = Detections(['a', 'a', 'a', 'a', 'b'],
                      np.array([[0., 9.], [1., 10.], [21., 29.], [50., 60.], [5., 5.5]]),
                      np.array([0.9, 0.8, 0.7, 0.95, 0.5]), np.zeros(5, np.int64))
    r = topkx_recall(flatten_ground_truth(gt), dets, [0.5, 0.95], top_k=(1, 5))
    # top-2 in a: 0.95 (nothing) and 0.9 ([0, 9], tIoU 0.9): 1 of 2; b: tIoU 0.5 -> 1
    # top-10 in a: all -> [21, 29] tIoU 0.8 recalls the second; at 0.95 nothing
    np.testing.assert_allclose(r, [[2 / 3, 1.0], [0.0, 0.0]], rtol=0, atol=1e-12)


def test_released_detections_match_the_reference():
    ground_truth = load_tal_annotations(THUMOS, 'Test')
    classes = ground_truth[0]['class_names']
    results = osp.join(SHARED_DATA, 'thumos14_preds_a2net.json')
    dets = load_submission(results, classes)
    ours = topkx_recall(flatten_ground_truth(ground_truth), dets, TIOUS, top_k=(1, 5))
    gt_by_video = {v['video_id']: [(classes[l], s[0], s[1]) for s, l in
                                   zip(v['segments'].tolist(), v['labels'].tolist())]
                   for v in ground_truth}
    with open(results) as f:
        raw = json.load(f)['results']
    preds = {vid: [(d['label'], float(d['segment'][0]), float(d['segment'][1]),
                    float(d['score'])) for d in rows] for vid, rows in raw.items()}
    np.testing.assert_allclose(ours, reference_recall(gt_by_video, preds, TIOUS, (1, 5)),
                               rtol=0, atol=1e-12)
    assert 0.3 < ours[2, 0] < ours[2, 1] < 1  # @5x recalls more than @1x


def test_tal_metric_reports_recall(tmp_path):
    db = {'a': dict(subset='Test', duration=40.0, fps=30.0, annotations=[
        dict(label='x', segment=[0.0, 10.0]), dict(label='x', segment=[20.0, 30.0])])}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    metric = TALMetric(ann_file=str(ann), subset='Test', tiou_thresholds=[0.5],
                       merge_nms=None, recall_topk=(1, 5))
    metric.process(None, [dict(video_id='a', pred_instances=dict(
        segments=torch.tensor([[50., 60.], [0., 9.], [21., 29.]]),
        scores=torch.tensor([0.9, 0.8, 0.7]), labels=torch.zeros(3, dtype=torch.long)))])
    out = metric.compute_metrics(metric.results)
    assert out['recall@1x@0.50'] == 0.5 and out['recall@5x@0.50'] == 1.0
    assert out['average_recall@5x'] == 1.0 and 'average_mAP' in out
    assert list(out)[0] == 'mAP@0.50'  # mAP first: save_best='auto' keys on it
    with pytest.raises(ValueError, match='top_k must be positive'):
        TALMetric(ann_file=str(ann), subset='Test', recall_topk=(0, )).compute_metrics(
            metric.results)
