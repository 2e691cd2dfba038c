"""ActivityNet-style detection mAP: hand-computed cases, real annotation files, real
released detections against an independent reference, and the TALMetric wrapper."""
import json
import os

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData

from mmaction.registry import METRICS
from mmaction.structures import ActionDataSample

from tests.conftest import SHARED_DATA
from losa_plugin.datasets.tal_annotation import load_tal_annotations
from losa_plugin.evaluation import (Detections, evaluate_detections, evaluate_submission,
                                    interpolated_ap, load_submission)

THUMOS = os.path.join(SHARED_DATA, 'thumos14.json')
ANET = os.path.join(SHARED_DATA, 'anet13_val.json')
ANET_CLASSES = os.path.join(SHARED_DATA, 'anet13_classes.txt')
THUMOS_TIOUS = (0.3, 0.4, 0.5, 0.6, 0.7)
ANET_TIOUS = np.linspace(0.5, 0.95, 10)
CLASSES = ['run', 'jump', 'swim']


# --------------------------------------------------------------------------- helpers
def write_ann(path, videos, subset='Test'):
    """videos: {video_id: [(start, end, class_index), ...]}."""
    database = {vid: dict(subset=subset, duration=100.0, fps=30.0,
                          annotations=[dict(segment=[s, e], label=CLASSES[c])
                                       for s, e, c in anns])
                for vid, anns in videos.items()}
    with open(path, 'w') as f:
        json.dump(dict(database=database), f)
    return str(path)


def gt_of(tmp_path, videos):
    return load_tal_annotations(write_ann(tmp_path / 'ann.json', videos), 'Test',
                                class_names=CLASSES)


def dets(rows):
    """rows: [(video_id, start, end, score, class_index), ...] in file order."""
    if not rows:
        return Detections.empty()
    return Detections([r[0] for r in rows], np.array([[r[1], r[2]] for r in rows], float),
                      np.array([r[3] for r in rows], float),
                      np.array([r[4] for r in rows], np.int64))


def evaluate(tmp_path, videos, rows, tious=(0.5, ), tie_order='stable'):
    return evaluate_detections(gt_of(tmp_path, videos), dets(rows), tious,
                               tie_order=tie_order)


# ---------------------------------------------------------------- hand-computed cases
def test_interpolated_ap_hand_value():
    # precision [1, .5, 2/3] at recall [.5, .5, 1]: interpolated 1 up to recall .5,
    # 2/3 from .5 to 1 -> 0.5 + 1/3
    assert interpolated_ap(np.array([1, .5, 2 / 3]), np.array([.5, .5, 1.])) == \
        pytest.approx(0.5 + 1 / 3, abs=1e-15)
    assert interpolated_ap(np.array([0.0, 0.5]), np.array([0.0, 1.0])) == 0.5


def test_perfect(tmp_path):
    videos = {'a': [(0, 10, 0), (20, 30, 1)], 'b': [(5, 8, 0)]}
    rows = [('a', 0, 10, .9, 0), ('a', 20, 30, .3, 1), ('b', 5, 8, .5, 0)]
    r = evaluate(tmp_path, videos, rows, tious=(0.5, 0.95))
    assert np.array_equal(r.ap, np.ones((2, 2)))
    assert r.average_mAP == 1.0
    assert r.metrics() == {'mAP@0.50': 1.0, 'mAP@0.95': 1.0, 'average_mAP': 1.0}


def test_partial(tmp_path):
    videos = {'a': [(0, 10, 0), (20, 30, 0)]}
    # TP, FP (no overlap), tIoU 0.9 (TP at 0.5, FP at 0.95)
    rows = [('a', 0, 10, .9, 0), ('a', 50, 60, .8, 0), ('a', 21, 30, .7, 0)]
    r = evaluate(tmp_path, videos, rows, tious=(0.5, 0.95))
    assert r.ap[:, 0] == pytest.approx([0.5 + 0.5 * 2 / 3, 0.5], abs=1e-15)
    assert r.num_gt.tolist() == [2] and r.num_pred.tolist() == [3]


def test_duplicate_detections_are_false_positives(tmp_path):
    videos = {'a': [(0, 10, 0), (20, 30, 0)]}
    rows = [('a', 0, 10, .9, 0), ('a', 0, 10, .8, 0), ('a', 20, 30, .7, 0)]
    r = evaluate(tmp_path, videos, rows)
    assert r.ap[0, 0] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)
    # a duplicate ranked last costs nothing: precision is interpolated from the right
    rows = [('a', 0, 10, .9, 0), ('a', 20, 30, .8, 0), ('a', 0, 10, .7, 0)]
    assert evaluate(tmp_path, videos, rows).ap[0, 0] == 1.0


def test_class_without_predictions_scores_zero(tmp_path):
    videos = {'a': [(0, 10, 0), (20, 30, 1)]}
    r = evaluate(tmp_path, videos, [('a', 0, 10, .9, 0)])
    assert r.class_ids.tolist() == [0, 1]
    assert r.ap[0].tolist() == [1.0, 0.0]
    assert r.mAP[0] == 0.5


def test_predictions_on_unknown_videos_are_false_positives(tmp_path):
    videos = {'a': [(0, 10, 0)]}
    rows = [('zzz', 0, 10, .9, 0), ('a', 0, 10, .8, 0)]
    assert evaluate(tmp_path, videos, rows).ap[0, 0] == 0.5
    # also a video with ground truth of another class only
    videos = {'a': [(0, 10, 0)], 'b': [(0, 10, 1)]}
    rows = [('b', 0, 10, .9, 0), ('a', 0, 10, .8, 0), ('b', 0, 10, .7, 1)]
    assert evaluate(tmp_path, videos, rows).ap[0].tolist() == [0.5, 1.0]


def test_classes_absent_from_ground_truth_are_ignored(tmp_path):
    videos = {'a': [(0, 10, 0), (20, 30, 1)]}
    rows = [('a', 0, 10, .9, 0), ('a', 20, 30, .8, 1)]
    base = evaluate(tmp_path, videos, rows)
    extra = evaluate(tmp_path, videos, rows + [('a', 0, 10, .99, 2), ('a', 40, 50, .95, 2)])
    assert extra.class_ids.tolist() == [0, 1]  # 'swim' has no ground truth: not averaged
    assert extra.mAP[0] == base.mAP[0] == 1.0


def test_empty_results(tmp_path):
    videos = {'a': [(0, 10, 0), (20, 30, 1)]}
    r = evaluate(tmp_path, videos, [], tious=THUMOS_TIOUS)
    assert r.ap.shape == (5, 2) and not r.ap.any() and r.average_mAP == 0.0


def test_score_ties_fall_as_numpy_argsort_reversed(tmp_path):
    videos = {'a': [(0, 10, 0)]}
    # file order: a false positive, then the true positive, same score
    rows = [('a', 50, 60, .5, 0), ('a', 0, 10, .5, 0)]
    first = np.argsort(np.array([.5, .5]))[::-1][0]
    expected = 1.0 if first == 1 else 0.5  # TP first -> AP 1; FP first -> AP 0.5
    assert evaluate(tmp_path, videos, rows, tie_order='numpy').ap[0, 0] == expected
    # the default keeps file order: the false positive ranks first
    assert evaluate(tmp_path, videos, rows).ap[0, 0] == 0.5
    assert evaluate(tmp_path, videos, rows[::-1]).ap[0, 0] == 1.0


def test_ground_truth_ties_fall_as_numpy_argsort_reversed(tmp_path):
    # The first prediction overlaps both GT by exactly 9/11; the one it locks decides
    # whether the second prediction (tIoU 1 with B, 8/12 with A) is a TP at 0.7.
    videos = {'a': [(0, 10, 0), (2, 12, 0)]}
    rows = [('a', 1, 11, .9, 0), ('a', 2, 12, .8, 0)]
    locks_b = np.argsort(np.array([9 / 11, 9 / 11]))[::-1][0] == 1
    expected = 0.5 if locks_b else 1.0
    r = evaluate(tmp_path, videos, rows, tious=(0.5, 0.7), tie_order='numpy')
    assert r.ap[1, 0] == expected
    assert r.ap[0, 0] == 1.0  # at 0.5 the second prediction takes whichever is left
    # stable: the first ground truth in file order (A) is locked, B stays for the second
    r = evaluate(tmp_path, videos, rows, tious=(0.5, 0.7))
    assert r.ap[:, 0].tolist() == [1.0, 1.0]
    videos = {'a': [(2, 12, 0), (0, 10, 0)]}  # B first in the file: B locked
    assert evaluate(tmp_path, videos, rows, tious=(0.5, 0.7)).ap[:, 0].tolist() == [1.0, 0.5]


def test_bad_thresholds(tmp_path):
    with pytest.raises(ValueError, match='tiou_thresholds'):
        evaluate(tmp_path, {'a': [(0, 10, 0)]}, [], tious=(0.0, ))


# ------------------------------------------------------------- real annotation files
def _gt_as_predictions(gt, jitter, seed):
    rng = np.random.default_rng(seed)
    vids = [v['video_id'] for v in gt for _ in v['labels']]
    segs = np.concatenate([v['segments'] for v in gt])
    length = segs[:, 1] - segs[:, 0]
    segs = segs + rng.normal(0, 1, segs.shape) * jitter * length[:, None]
    return Detections(vids, segs, rng.uniform(0, 1, len(vids)),
                      np.concatenate([v['labels'] for v in gt]))


def test_thumos_jittered_ground_truth():
    gt = load_tal_annotations(THUMOS, 'Test')
    assert sum(len(v['labels']) for v in gt) == 3358
    results = [evaluate_detections(gt, _gt_as_predictions(gt, j, seed=0), THUMOS_TIOUS)
               for j in (0.0, 0.1, 0.2, 0.4)]
    avg = [r.average_mAP for r in results]
    assert avg[0] == 1.0
    assert avg[1] > 0.95
    assert all(a > b for a, b in zip(avg, avg[1:])), avg
    for r in results[1:]:  # stricter thresholds never score higher
        assert np.all(np.diff(r.mAP) <= 0)
    # deterministic, and (distinct scores) independent of the detections' file order
    again = evaluate_detections(gt, _gt_as_predictions(gt, 0.1, seed=0), THUMOS_TIOUS)
    assert np.array_equal(again.ap, results[1].ap)
    d = _gt_as_predictions(gt, 0.1, seed=0)
    perm = np.random.default_rng(1).permutation(len(d.scores))
    shuffled = Detections([d.video_ids[i] for i in perm], d.segments[perm], d.scores[perm],
                          d.labels[perm])
    assert np.array_equal(evaluate_detections(gt, shuffled, THUMOS_TIOUS).ap, results[1].ap)


def test_anet_perfect_predictions_with_and_without_dedup():
    raw = load_tal_annotations(ANET, 'validation', class_names=ANET_CLASSES)
    dedup = load_tal_annotations(ANET, 'validation', class_names=ANET_CLASSES,
                                 remove_duplicates=True)
    n_raw = sum(len(v['labels']) for v in raw)
    n_dedup = sum(len(v['labels']) for v in dedup)
    assert (len(raw), n_raw, n_raw - n_dedup) == (4926, 7654, 21)
    perfect = _gt_as_predictions(dedup, 0.0, seed=0)
    without = evaluate_detections(raw, perfect, ANET_TIOUS)
    with_dedup = evaluate_detections(dedup, perfect, ANET_TIOUS)
    assert len(without.class_ids) == 200
    assert with_dedup.average_mAP == 1.0
    # Closed form: every prediction is a TP at every tIoU, so a class with d of its n
    # instances duplicated has AP (n - d) / n. Counted here from the raw JSON.
    with open(ANET) as f:
        db = json.load(f)['database']
    n, d = {}, {}
    for entry in db.values():
        kept = []
        for a in entry['annotations']:
            n[a['label']] = n.get(a['label'], 0) + 1
            if any(k['label'] == a['label'] and abs(k['segment'][0] - a['segment'][0]) <= 1e-3
                   and abs(k['segment'][1] - a['segment'][1]) <= 1e-3 for k in kept):
                d[a['label']] = d.get(a['label'], 0) + 1
            else:
                kept.append(a)
    closed_form = 1 - sum(d.get(c, 0) / n[c] for c in n) / len(n)
    assert without.average_mAP == pytest.approx(closed_form, abs=1e-12)
    # 21 duplicates over 7 classes (13 of them 'Playing ten pins', one segment repeated
    # 14 times in 6gyD-Mte2ZM). The brief's figure was 0.99882, which is what you get
    # without the ten-pins duplicates (0.998826); with all 21 counted it is 0.99814.
    assert round(without.average_mAP, 5) == 0.99814


# ------------------------------------------- real released detections vs a reference
def _numpy_rank(values):
    """The official evaluator's ranking: numpy's default argsort, reversed."""
    return np.argsort(np.array(values))[::-1]


def _reference_map(ann_file, subset, results_file, tious, rank=_numpy_rank):
    """Plain loops from the protocol's definition; shares no code with the library.
    ``rank(values)`` orders scores and tIoUs from highest to lowest."""
    with open(ann_file) as f:
        database = json.load(f)['database']
    with open(results_file) as f:
        submission = json.load(f)['results']
    gt, classes = [], []
    for vid, entry in database.items():
        if entry['subset'] != subset:
            continue
        for a in entry['annotations']:
            gt.append((vid, a['label'], float(a['segment'][0]), float(a['segment'][1])))
            if a['label'] not in classes:
                classes.append(a['label'])
    preds = [(vid, p['label'], float(p['segment'][0]), float(p['segment'][1]),
              float(p['score'])) for vid, plist in submission.items() for p in plist]
    aps = np.zeros((len(tious), len(classes)))
    for c, name in enumerate(classes):
        gt_c = [g for g in gt if g[1] == name]
        by_video = {}
        for k, g in enumerate(gt_c):
            by_video.setdefault(g[0], []).append(k)
        pred_c = [p for p in preds if p[1] == name]
        if not pred_c:
            continue
        order = rank([p[4] for p in pred_c])
        used = [set() for _ in tious]
        tp_flags = [[] for _ in tious]
        for i in order:
            vid, _, ps, pe, _ = pred_c[i]
            cands = by_video.get(vid, [])
            overlaps = []
            for k in cands:
                gs, ge = gt_c[k][2], gt_c[k][3]
                inter = max(0.0, min(pe, ge) - max(ps, gs))
                overlaps.append(inter / ((ge - gs) + (pe - ps) - inter))
            ranked = rank(overlaps) if cands else []
            for t, thr in enumerate(tious):
                hit = 0
                for j in ranked:
                    if overlaps[j] < thr:
                        break
                    if cands[j] in used[t]:
                        continue
                    used[t].add(cands[j])
                    hit = 1
                    break
                tp_flags[t].append(hit)
        for t in range(len(tious)):
            prec, rec, tp = [], [], 0
            for m, flag in enumerate(tp_flags[t], start=1):
                tp += flag
                prec.append(tp / m)
                rec.append(tp / len(gt_c))
            prec, rec = [0.0] + prec + [0.0], [0.0] + rec + [1.0]
            for m in range(len(prec) - 2, -1, -1):
                prec[m] = max(prec[m], prec[m + 1])
            aps[t, c] = sum((rec[m] - rec[m - 1]) * prec[m] for m in range(1, len(rec))
                            if rec[m] != rec[m - 1])
    return aps.mean(axis=1)


@pytest.mark.parametrize('name', ['a2net', 'scnn'])
def test_released_detections_match_reference(name):
    results_file = os.path.join(SHARED_DATA, f'thumos14_preds_{name}.json')
    # the reference ranks ties by numpy's argsort()[::-1], as the official evaluator
    result = evaluate_submission(THUMOS, results_file, 'Test', THUMOS_TIOUS,
                                 tie_order='numpy')
    reference = _reference_map(THUMOS, 'Test', results_file, THUMOS_TIOUS)
    assert np.abs(result.mAP - reference).max() <= 1e-12, (result.mAP, reference)
    assert result.num_pred.sum() > 20000  # the files are evaluated, not skipped
    print(f'{name}: ' + ', '.join(f'mAP@{t:.1f}={100 * m:.2f}'
                                  for t, m in zip(THUMOS_TIOUS, result.mAP)))


# ----------------------------------------------------------------- submission reading
class _Recorder:
    def __init__(self):
        self.messages = []

    def warning(self, msg):
        self.messages.append(msg)

    info = warning


def test_load_submission_errors_and_unknown_labels(tmp_path):
    def write(content):
        path = tmp_path / 'res.json'
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    ok = dict(label='run', score=0.5, segment=[1, 2])
    rec = _Recorder()
    d = load_submission(write({'results': {'v1': [ok, dict(ok, label='fly'),
                                                  dict(ok, label='fly')]}}), CLASSES,
                        logger=rec)
    assert d.video_ids == ['v1'] and d.labels.tolist() == [0]
    assert len(rec.messages) == 1 and 'ignored 2 detections' in rec.messages[0]
    assert "'fly'" in rec.messages[0]

    cases = [
        ('not json', 'not valid JSON'),
        ({'database': {}}, "'results'"),
        ({'results': {'v1': ok}}, "video 'v1': expected a list"),
        ({'results': {'v1': [dict(label='run', score=0.5)]}}, "detection 0: missing field "
                                                              "'segment'"),
        ({'results': {'v1': [ok, dict(ok, segment=[1])]}}, r"video 'v1' detection 1: "
                                                           r"'segment' must be"),
        ({'results': {'v1': [dict(ok, score='high')]}}, "'score' must be a number"),
        ({'results': {'v1': [dict(ok, segment=[1, None])]}}, "'segment' must be a number"),
    ]
    for content, message in cases:
        path = write(content)
        with pytest.raises(ValueError, match=message) as err:
            load_submission(path, CLASSES)
        assert path in str(err.value)
    with pytest.raises(FileNotFoundError, match='nope.json'):
        load_submission(str(tmp_path / 'nope.json'), CLASSES)


# ------------------------------------------------------------------------ TALMetric
def _sample(video_id, rows):
    s = ActionDataSample()
    s.set_metainfo(dict(video_id=video_id, fps=30.0, duration=100.0))
    s.pred_instances = InstanceData(
        segments=torch.tensor([[r[0], r[1]] for r in rows], dtype=torch.float32).reshape(-1, 2),
        scores=torch.tensor([r[2] for r in rows], dtype=torch.float32),
        labels=torch.tensor([r[3] for r in rows], dtype=torch.int64))
    return s


def _run_metric(metric, windows):
    evaluator = Evaluator(metrics=[metric])
    for batch in windows:
        evaluator.process(data_samples=batch, data_batch=None)
    return evaluator.evaluate(sum(len(b) for b in windows))


def test_tal_metric_merges_windows(tmp_path):
    ann = write_ann(tmp_path / 'ann.json', {'a': [(0, 10, 0), (20, 30, 1)], 'b': [(5, 15, 0)]})
    # video 'a' comes in two overlapping windows that both see [0, 10]
    windows = [[_sample('a', [(0, 10, .9, 0)]), _sample('b', [(5, 15, .6, 0)])],
               [_sample('a', [(0, 10, .8, 0), (20, 30, .7, 1)]), _sample('b', [])]]
    common = dict(type='TALMetric', ann_file=ann, subset='Test', class_names=CLASSES,
                  tiou_thresholds=(0.5, 0.7))

    # without merging, the duplicate (0.8) ranks above b's TP (0.6): 0.5 + 0.5 * 2/3
    raw = _run_metric(METRICS.build(dict(common, merge_nms=None,
                                         out_file=str(tmp_path / 'raw.json'))), windows)
    expected = (0.5 + 0.5 * 2 / 3 + 1.0) / 2
    assert set(raw) == {'mAP@0.50', 'mAP@0.70', 'average_mAP'}
    assert raw['mAP@0.50'] == pytest.approx(expected, abs=1e-12)
    assert raw['average_mAP'] == pytest.approx(expected, abs=1e-12)
    # the dump is a valid submission that evaluates to the same numbers
    with open(tmp_path / 'raw.json') as f:
        dumped = json.load(f)
    assert set(dumped) == {'version', 'results', 'external_data'}
    assert dumped['results']['a'][0] == dict(label='run', score=pytest.approx(.9),
                                             segment=[0.0, 10.0])
    again = evaluate_submission(ann, str(tmp_path / 'raw.json'), 'Test', (0.5, 0.7),
                                class_names=CLASSES)
    assert again.metrics() == raw

    # hard NMS across windows removes the duplicate; the default soft-NMS decays it
    # below b's TP (0.8 * exp(-1 / 0.5) = 0.108 < 0.6)
    hard = _run_metric(METRICS.build(dict(common, merge_nms=dict(method='hard',
                                                                 iou_threshold=0.5))),
                       windows)
    soft = _run_metric(METRICS.build(common), windows)
    assert hard['average_mAP'] == 1.0 and soft['average_mAP'] == 1.0


def test_tal_metric_anet_perfect_predictions():
    """The metric end to end on the 4,926 ActivityNet validation videos."""
    common = dict(type='TALMetric', ann_file=ANET, subset='validation',
                  class_names=ANET_CLASSES, tiou_thresholds=ANET_TIOUS, merge_nms=None)
    no_dedup = METRICS.build(common)
    gt = load_tal_annotations(ANET, 'validation', class_names=ANET_CLASSES,
                              remove_duplicates=True)
    samples = [dict(video_id=v['video_id'],
                    pred_instances=dict(segments=torch.from_numpy(v['segments']),
                                        scores=torch.ones(len(v['labels'])),
                                        labels=torch.from_numpy(v['labels'])))
               for v in gt]
    no_dedup.process(None, samples)
    result = no_dedup.compute_metrics(no_dedup.results)
    assert round(result['average_mAP'], 5) == 0.99814
    dedup = METRICS.build(dict(common, remove_duplicate_gt=True))
    dedup.process(None, samples)
    assert dedup.compute_metrics(dedup.results)['average_mAP'] == 1.0


def test_tal_metric_rejects_bad_samples(tmp_path):
    ann = write_ann(tmp_path / 'ann.json', {'a': [(0, 10, 0)]})
    metric = METRICS.build(dict(type='TALMetric', ann_file=ann, subset='Test',
                                class_names=CLASSES))
    with pytest.raises(KeyError, match='video_id'):
        metric.process(None, [dict(pred_instances={})])
    with pytest.raises(KeyError, match="'a'.*'labels'"):
        metric.process(None, [dict(video_id='a', pred_instances=dict(
            segments=torch.zeros(1, 2), scores=torch.zeros(1)))])
    metric.process(None, [dict(video_id='a', pred_instances=dict(
        segments=torch.tensor([[0., 10.]]), scores=torch.ones(1),
        labels=torch.tensor([7])))])
    with pytest.raises(ValueError, match='labels must index'):
        metric.compute_metrics(metric.results)
    with pytest.raises(ValueError, match='has no videos'):
        METRICS.build(dict(type='TALMetric', ann_file=ann, subset='Validation'))
