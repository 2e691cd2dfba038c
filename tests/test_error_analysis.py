"""DETAD-style error analysis: hand-made cases whose breakdown is known, bin edges, and
the whole analysis against numbers DETAD's own code gives on real detections."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from losa_plugin.datasets.tal_annotation import load_tal_annotations
from losa_plugin.evaluation import Detections, load_submission
from losa_plugin.evaluation.diagnosis_data import prepare_diagnosis
from losa_plugin.evaluation.error_analysis import analyze_errors, guess_preset
from losa_plugin.evaluation.false_negative_analysis import false_negative_analysis
from losa_plugin.evaluation.false_positive_analysis import (FP_TYPES,
                                                            false_positive_analysis)
from losa_plugin.evaluation.gt_characteristics import (DETAD_BINS, assign_bins,
                                                       filter_for_diagnosis,
                                                       gt_characteristics)
from losa_plugin.evaluation.sensitivity_analysis import sensitivity_analysis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
CLASSES = ['run', 'jump', 'swim']
THUMOS_BINS = DETAD_BINS['thumos14']
TP, DD, WL, LOC, CONF, BG = FP_TYPES


def write_ann(path, videos, durations=None):
    """videos: {video_id: [(start, end, class_index), ...]}."""
    database = {vid: dict(subset='Test', fps=30.0,
                          duration=(durations or {}).get(vid, 100.0),
                          annotations=[dict(segment=[s, e], label=CLASSES[c])
                                       for s, e, c in anns])
                for vid, anns in videos.items()}
    with open(path, 'w') as f:
        json.dump(dict(database=database), f)
    return str(path)


def load(tmp_path, videos, durations=None):
    return load_tal_annotations(write_ann(tmp_path / 'ann.json', videos, durations), 'Test',
                                class_names=CLASSES)


def dets(rows):
    return Detections([r[0] for r in rows], np.array([[r[1], r[2]] for r in rows], float),
                      np.array([r[3] for r in rows], float),
                      np.array([r[4] for r in rows], np.int64))


# ---------------------------------------------------------------------------- bins
def test_assign_bins_right_closed_first_closed():
    length = DETAD_BINS['activitynet']['length']  # (0, 30, 60, 120, 180, inf)
    v = np.array([0, 30, 30.0001, 60, 180, 1e9, -1, np.nan])
    assert assign_bins(v, length).tolist() == [0, 0, 1, 1, 3, 4, -1, -1]
    count = DETAD_BINS['activitynet']['num-instances']  # (-1, 1, 4, 8, inf)
    assert assign_bins(np.array([1, 2, 4, 5, 8, 9]), count).tolist() == [0, 1, 1, 2, 2, 3]
    cover = DETAD_BINS['thumos14']['coverage']  # (0, .02, .04, .06, .08, 1)
    assert assign_bins(np.array([2 / 100, 1.0, 1.01]), cover).tolist() == [0, 4, -1]


def test_characteristics_and_filter(tmp_path):
    videos = {'a': [(0, 10, 0), (5, 5, 1), (20, 22, 0)], 'b': [(0, 150, 2)]}
    gt = load(tmp_path, videos, durations={'a': 50.0, 'b': 100.0})
    kept, dropped = filter_for_diagnosis(gt)
    assert dropped == {'zero_length': 1, 'longer_than_video': 1}
    ch = gt_characteristics(kept)
    assert ch['length'].tolist() == [10, 2]
    assert ch['coverage'].tolist() == [10 / 50, 2 / 50]
    # counted as the file gives them: 3 segments in 'a', the zero-length one included
    assert ch['num-instances'].tolist() == [3, 3]
    assert guess_preset('validation') == 'activitynet' and guess_preset('Test') == 'thumos14'


# ------------------------------------------------------------ false-positive profile
FP_VIDEOS = {'a': [(0, 10, 0), (20, 30, 1)], 'b': [(40, 50, 2)]}
FP_ROWS = [  # (video, start, end, score, class)
    ('a', 20, 30, .95, 0),   # overlaps only 'jump' (tIoU 1): wrong label
    ('a', 0, 10, .90, 0),    # true positive
    ('a', 0, 10, .85, 0),    # the same 'run' again: double detection
    ('a', 0, 3, .80, 0),     # tIoU 0.3 with 'run': localization
    ('a', 20, 23, .75, 0),   # tIoU 0.3 with 'jump': confusion
    ('a', 60, 70, .70, 0),   # no overlap: background
    ('zzz', 0, 10, .65, 0),  # video without ground truth: background
    ('zzz', 20, 30, .60, 0),  # (DETAD compares this one with a stale video's ground truth)
    ('a', 80, 90, .50, 0),   # background
    ('a', 85, 95, .45, 0),   # background: 10th = limit_factor x G (G = 1)
    ('a', 0, 10, .40, 0),    # 11th: beyond the top 10G, not analysed
    ('a', 20, 30, .90, 1),   # 'jump' true positive
    ('b', 0, 10, .80, 2),    # 'swim' in b, no overlap: background
    ('b', 40, 50, .30, 2),   # 'swim' true positive
]


def test_false_positive_hand_case(tmp_path):
    data = prepare_diagnosis(load(tmp_path, FP_VIDEOS), dets(FP_ROWS), (0.3, 0.5))
    fp = false_positive_analysis(data, limit_factor=10, min_tiou=0.1)
    assert fp['num_predictions'] == 13  # run 10 (of 11), jump 1, swim 2
    # per threshold: at 0.3 the localization is a double detection (tIoU 0.3 >= 0.3 with
    # its own, taken, class) and the confusion a wrong label
    at5 = {TP: 3, DD: 1, WL: 1, LOC: 1, CONF: 1, BG: 6}
    at3 = {TP: 3, DD: 2, WL: 2, LOC: 0, CONF: 0, BG: 6}
    assert fp['counts_per_tiou'] == {'0.30': at3, '0.50': at5}
    assert fp['breakdown'] == pytest.approx({k: (at3[k] + at5[k]) / 2 / 13 for k in FP_TYPES},
                                            abs=1e-15)
    # the profile: block g holds each class's g-th prediction (G = 1 everywhere)
    shares = [p['fractions'] for p in fp['profile']]
    assert [p['num_predictions'] for p in fp['profile']] == [3, 2] + [1] * 8
    assert shares[0] == pytest.approx({TP: 1 / 3, DD: 0, WL: 1 / 3, LOC: 0, CONF: 0,
                                       BG: 1 / 3}, abs=1e-15)
    assert shares[1][TP] == 1.0
    assert shares[2] == pytest.approx({TP: 0, DD: 1, WL: 0, LOC: 0, CONF: 0, BG: 0})
    assert shares[3][LOC] == 0.5 and shares[3][DD] == 0.5  # 0.5 and 0.3 averaged
    assert shares[4][CONF] == 0.5 and shares[4][WL] == 0.5
    assert all(s[BG] == 1.0 for s in shares[5:])
    # AP (N = 3 segments / 3 classes = 1, so AP_N = AP): run F,T.. -> 1/2, jump 1,
    # swim F,T -> 1/2; removing the wrong label or the background errors lifts one
    # class to 1: +1/6 each; the others sit after every true positive: +0
    assert fp['mAP'] == pytest.approx([2 / 3, 2 / 3], abs=1e-15)
    assert fp['removal_gain'] == pytest.approx({DD: 0, WL: 1 / 6, LOC: 0, CONF: 0,
                                                BG: 1 / 6}, abs=1e-15)
    # limit_factor 1: the top 1G only, and a single profile block
    fp1 = false_positive_analysis(data, limit_factor=1)
    assert fp1['num_predictions'] == 3 and len(fp1['profile']) == 1
    assert fp1['mAP'] == pytest.approx([1 / 3, 1 / 3], abs=1e-15)  # run F, jump T, swim F
    with pytest.raises(ValueError, match='limit_factor must be a positive int'):
        false_positive_analysis(data, limit_factor=0)


# ----------------------------------------------- sensitivity and false negatives
# 'run': 3 segments (lengths 2, 10, 10), 'jump': 1 (length 5); N = 4 / 2 = 2
SENS_VIDEOS = {'v1': [(0, 2, 0), (10, 20, 0)], 'v2': [(0, 10, 0), (20, 25, 1)]}
SENS_ROWS = [('v1', 10, 20, .9, 0),   # TP, length M
             ('v2', 50, 60, .8, 0),   # FP
             ('v1', 0, 2, .7, 0),     # TP, length XS
             ('v2', 20, 25, .6, 1)]   # TP, length S; 'run' v2 [0, 10] (M) is missed


def test_sensitivity_hand_case(tmp_path):
    data = prepare_diagnosis(load(tmp_path, SENS_VIDEOS), dets(SENS_ROWS), (0.5, ))
    assert data.average_num_gt == 2.0
    s = sensitivity_analysis(data, THUMOS_BINS)
    # run: T F T; P_N = R N / (R N + FP): 1, 0.4, 4/7 at R = 1/3, 1/3, 2/3 -> 11/21;
    # jump: 1
    assert s['average_mAP'] == pytest.approx((11 / 21 + 1) / 2, abs=1e-15)
    length = s['characteristics']['length']['bins']
    # XS: run keeps its FP and the XS match (the M match is set aside): F T at R 1:
    # P_N 2 / 3; S: jump alone: 1; M: run T F at R 1/2: 1 x 1/2
    assert length['XS'] == dict(average_mAP=pytest.approx(2 / 3, abs=1e-15), num_gt=1)
    assert length['S'] == dict(average_mAP=1.0, num_gt=1)
    assert length['M'] == dict(average_mAP=pytest.approx(0.5, abs=1e-15), num_gt=2)
    assert length['L'] == length['XL'] == dict(average_mAP=None, num_gt=0)
    base = (11 / 21 + 1) / 2
    assert s['characteristics']['length']['relative_min'] == pytest.approx(0.5 / base)
    assert s['characteristics']['length']['relative_max'] == pytest.approx(1 / base)
    # coverage (duration 100): 0.02 falls in XS (right-closed), 0.05 in M, 0.1 in XL
    cover = s['characteristics']['coverage']['bins']
    assert cover['XS']['average_mAP'] == pytest.approx(2 / 3, abs=1e-15)
    assert cover['M']['average_mAP'] == 1.0 and cover['XL']['average_mAP'] == 0.5
    # plain AP: run T F T: 1/3 + 1/3 x 2/3 = 5/9
    plain = sensitivity_analysis(data, THUMOS_BINS, normalize=False)
    assert plain['average_mAP'] == pytest.approx((5 / 9 + 1) / 2, abs=1e-15)
    assert plain['characteristics']['length']['bins']['XS']['average_mAP'] == 0.5


def test_sensitivity_sets_aside_detections_matched_outside_at_any_threshold(tmp_path):
    """DETAD filters a class's detections threshold after threshold: one that matched
    outside the bin at any threshold is set aside. A = [0, 10] (length M), B = [0, 20]
    (XL); P0 = [0, 6] takes A at 0.5 (tIoU 0.6) and nothing at 0.7; P1 = [0, 14.1]
    (tIoU 0.709 with A, 0.705 with B) then takes B at 0.5 but A at 0.7."""
    videos = {'v': [(0, 10, 0), (0, 20, 0)]}
    rows = [('v', 0, 6, .9, 0), ('v', 0, 14.1, .8, 0)]
    data = prepare_diagnosis(load(tmp_path, videos), dets(rows), (0.5, 0.7))
    rows_of = {tuple(data.gt.segments[g]): g for g in range(2)}
    assert data.classes[0].matched.tolist() == [[rows_of[(0, 10)], rows_of[(0, 20)]],
                                                [-1, rows_of[(0, 10)]]]
    length = sensitivity_analysis(data, THUMOS_BINS)['characteristics']['length']['bins']
    # M keeps P0 only: T at 0.5 (AP 1), F at 0.7 (AP 0); XL keeps neither: AP 0
    assert length['M']['average_mAP'] == 0.5
    assert length['XL']['average_mAP'] == 0.0


def test_false_negative_precision_threshold_is_exclusive(tmp_path):
    # plain precision of 'run' T F T is 1, 1/2, 2/3: a limit of exactly 2/3 drops the
    # third one (DETAD discards precision <= limit)
    data = prepare_diagnosis(load(tmp_path, SENS_VIDEOS), dets(SENS_ROWS), (0.5, ))
    fn = false_negative_analysis(data, THUMOS_BINS, min_precision=2 / 3, normalize=False)
    assert fn['characteristics']['length']['XS']['fn_rate'] == 1.0
    assert fn['characteristics']['length']['M']['fn_rate'] == 0.5


@pytest.mark.parametrize('n_extra,xs_missed', [(24, 0.0), (25, 1.0)])
def test_false_negative_hand_case(tmp_path, n_extra, xs_missed):
    # extra false positives between the FP and the XS match: with 1 + 25 of them the
    # XS match sits at P_N = (2/3 x 2) / (4/3 + 26) = 0.047 <= 0.05 and does not count;
    # with 1 + 24 at 0.0506 it does
    extra = [('v2', 50 + 20 * i, 60 + 20 * i, .75 - 1e-4 * i, 0) for i in range(n_extra)]
    rows = SENS_ROWS[:2] + extra + SENS_ROWS[2:]
    data = prepare_diagnosis(load(tmp_path, SENS_VIDEOS), dets(rows), (0.5, ))
    fn = false_negative_analysis(data, THUMOS_BINS, min_precision=0.05)
    length = fn['characteristics']['length']
    assert length['XS']['fn_rate'] == xs_missed
    assert length['S']['fn_rate'] == 0.0
    assert length['M']['fn_rate'] == 0.5  # v2's 'run' is never detected
    assert length['L']['fn_rate'] is None and length['L']['num_gt'] == 0
    assert fn['fn_rate'] == pytest.approx((1 + xs_missed) / 4, abs=1e-15)
    # a threshold of 0 counts every match
    assert false_negative_analysis(data, THUMOS_BINS, min_precision=0.0)['fn_rate'] == 0.25


# ------------------------------------------------------------- DETAD on real data
def test_matches_detad_on_released_detections():
    """The whole analysis against DETAD's own code on A2Net's THUMOS-14 detections with
    ties broken in file order (tests/fixtures/detad_reference/make_reference.py)."""
    with open(os.path.join(ROOT, 'tests', 'fixtures', 'detad_reference',
                           'thumos14_a2net_untied.json')) as f:
        ref = json.load(f)
    gt = load_tal_annotations(os.path.join(SHARED_DATA, 'thumos14.json'), 'Test')
    d = load_submission(os.path.join(SHARED_DATA, 'thumos14_preds_a2net.json'),
                        gt[0]['class_names'])
    d = d._replace(scores=d.scores - 1e-9 * np.arange(len(d.scores)))
    r = analyze_errors(gt, d, preset='thumos14')
    fp, sens, fn = r['false_positive'], r['sensitivity'], r['false_negative']
    assert fp['num_predictions'] > 20000
    assert fp['average_mAP'] == pytest.approx(ref['fp_average_mAP'], abs=1e-12)
    assert fp['removal_gain'] == pytest.approx(ref['gain'], abs=1e-12)
    assert fp['breakdown'] == pytest.approx(ref['breakdown'], abs=1e-12)
    for ours, theirs in zip(fp['profile'], ref['profile']):
        assert ours['fractions'] == pytest.approx(theirs, abs=1e-12)
    assert sens['average_mAP'] == pytest.approx(ref['sens_base'], abs=1e-12)
    for name, c in sens['characteristics'].items():
        assert {k: v['average_mAP'] for k, v in c['bins'].items()} == \
            pytest.approx(ref['sens'][name], abs=1e-12)
    for name, c in fn['characteristics'].items():
        assert {k: v['fn_rate'] for k, v in c.items()} == \
            pytest.approx(ref['fn'][name], abs=1e-12)


# --------------------------------------------------------------------------- tool
def test_tool_writes_json_and_figures(tmp_path):
    ann = write_ann(tmp_path / 'ann.json', FP_VIDEOS)
    res = tmp_path / 'res.json'
    res.write_text(json.dumps(dict(results={
        v: [dict(label=CLASSES[c], score=sc, segment=[s, e])
            for u, s, e, sc, c in FP_ROWS if u == v] for v in ('a', 'zzz', 'b')})))
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'analyze_errors.py'),
                           ann, str(res), '--subset', 'Test', '--tiou', '0.3', '0.5',
                           '--out', str(out)], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(out / 'error_analysis.json') as f:
        report = json.load(f)
    expected = analyze_errors(load(tmp_path, FP_VIDEOS), dets(FP_ROWS), 'thumos14',
                              (0.3, 0.5))
    assert report == json.loads(json.dumps(expected))
    assert report['false_positive']['removal_gain'][WL] == pytest.approx(1 / 6, abs=1e-15)
    for name in ('false_positive_analysis', 'sensitivity_analysis',
                 'false_negative_analysis'):
        png = out / f'{name}.png'
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10000
    assert 'Wrong Label Err' in proc.stdout and 'false negatives' in proc.stdout
