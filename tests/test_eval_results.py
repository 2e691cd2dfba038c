"""tools/eval_results.py as a user runs it: a subprocess on real released detections."""
import json
import os
import subprocess
import sys

from tests.conftest import SHARED_DATA
from losa_plugin.evaluation import evaluate_submission

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
TOOL = os.path.join(ROOT, 'tools', 'eval_results.py')
THUMOS = os.path.join(SHARED_DATA, 'thumos14.json')
A2NET = os.path.join(SHARED_DATA, 'thumos14_preds_a2net.json')
TIOUS = [0.3, 0.4, 0.5, 0.6, 0.7]


def _run(args, cwd):
    # run from outside the repo: the tool must find losa_plugin by itself
    return subprocess.run([sys.executable, TOOL] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_tool_writes_the_library_numbers(tmp_path):
    out = tmp_path / 'map.json'
    proc = _run([THUMOS, A2NET, '--subset', 'Test', '--tious'] + [str(t) for t in TIOUS] +
                ['--json', str(out)], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(out) as f:
        written = json.load(f)
    expected = evaluate_submission(THUMOS, A2NET, 'Test', TIOUS)
    assert written['tious'] == TIOUS
    assert written['mAP'] == expected.mAP.tolist()  # full precision, bit for bit
    assert written['average_mAP'] == expected.average_mAP
    # the printed report: a row per class, then mAP per tIoU and the average
    assert 'BaseballPitch' in proc.stdout and 'VolleyballSpiking' in proc.stdout
    assert f'mAP@0.50: {100 * expected.mAP[2]:.2f}' in proc.stdout
    assert f'average mAP: {100 * expected.average_mAP:.2f}' in proc.stdout
    # the tie report: A2Net's scores have 4 decimals, so many detections tie
    report = expected.tie_report()
    assert report['num_tied'] > 30000 and report['tie_order'] == 'stable'
    for key, value in report.items():
        assert written[key] == value, key
    assert f"{report['num_tied']} detections share their score" in proc.stdout


def test_tool_numpy_tie_order(tmp_path):
    out = tmp_path / 'map.json'
    proc = _run([THUMOS, A2NET, '--subset', 'Test', '--tious', '0.5', '--tie-order', 'numpy',
                 '--json', str(out)], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(out) as f:
        written = json.load(f)
    expected = evaluate_submission(THUMOS, A2NET, 'Test', [0.5], tie_order='numpy')
    assert written['mAP'] == expected.mAP.tolist() and written['tie_order'] == 'numpy'
    assert expected.mAP[0] != evaluate_submission(THUMOS, A2NET, 'Test', [0.5]).mAP[0]


def test_tool_requires_subset_and_tious(tmp_path):
    proc = _run([THUMOS, A2NET, '--tious', '0.5'], cwd=str(tmp_path))
    assert proc.returncode == 2 and '--subset' in proc.stderr and 'required' in proc.stderr
