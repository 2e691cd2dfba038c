"""tools/benchmark.py: runs a tiny config in a subprocess and writes the JSON schema;
strategies are derived from a LoSA config as the baseline configs are written."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from losa_plugin.benchmark.strategies import derive_strategy_cfg, infer_strategy
from losa_plugin.utils.meta_build import build_model_on_meta

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'configs/efficiency/losa_tiny.py')
ROW_KEYS = {'strategy', 'backbone', 'frames', 'peak_mem_mb', 'step_time_s', 'forward_s',
            'backward_s', 'learnable_params', 'total_params'}


@pytest.mark.slow(cpu_s=20)
def test_tool_writes_rows_and_plot(tmp_path):
    out, png = tmp_path / 'bench.json', tmp_path / 'bench.png'
    cmd = [sys.executable, osp.join(ROOT, 'tools/benchmark.py'), TINY, '--frames', '32',
           '--size', '32', '--strategies', 'losa', '--estimate', '--json', str(out),
           '--plot', str(png)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())['rows']
    assert len(rows) == 1
    row = rows[0]
    assert ROW_KEYS <= set(row)
    assert row['strategy'] == 'losa' and row['frames'] == 32
    assert row['peak_mem_mb'] > 0 and row['est_step_growth_mb'] > 0
    assert 0 < row['forward_s'] and 0 < row['backward_s']
    assert row['forward_s'] + row['backward_s'] <= row['step_time_s'] + 1e-9
    assert 0 < row['learnable_params'] < row['total_params']
    assert 'losa' in proc.stdout and png.stat().st_size > 0


def test_estimate_only_needs_no_run(tmp_path):
    out = tmp_path / 'est.json'
    cmd = [sys.executable, osp.join(ROOT, 'tools/benchmark.py'), TINY, '--frames', '32',
           '64', '--size', '32', '--estimate', '--no-run', '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())['rows']
    assert [r['frames'] for r in rows] == [32, 64]
    assert all(r['peak_mem_mb'] is None for r in rows)
    assert rows[1]['est_step_growth_mb'] >= rows[0]['est_step_growth_mb']


def test_derived_strategies_match_baseline_configs():
    cfg = Config.fromfile(TINY).model.to_dict()
    assert infer_strategy(cfg) == 'losa'
    counts = {}
    for strategy in ('head_only', 'losa', 'full_ft', 'full_ft_nocp'):
        derived = derive_strategy_cfg(cfg, strategy)
        assert infer_strategy(derived) == strategy
        model = build_model_on_meta(derived)
        counts[strategy] = (sum(p.numel() for p in model.parameters() if p.requires_grad),
                            sum(p.numel() for p in model.parameters()))
    assert counts['full_ft'][0] == counts['full_ft'][1]  # everything learns
    assert counts['head_only'][0] < counts['losa'][0] < counts['full_ft'][0]
    assert counts['head_only'][1] == counts['full_ft'][1]  # same modules, other freezing
    assert derive_strategy_cfg(cfg, 'head_only')['backbone']['tap_layers'] == [-1]
    with pytest.raises(ValueError, match='strategy'):
        derive_strategy_cfg(cfg, 'adapters_everywhere')


@pytest.mark.parametrize('name,mode', [('losa_vitb-shape_64px', 'default'),
                                       ('losa_vitb-shape_64px_pool', 'pool4'),
                                       ('losa_vitb-shape_64px_pool2', 'pool2'),
                                       ('losa_vitb-shape_64px_stream', 'stream'),
                                       ('losa_vitb-shape_64px_bf16', 'bf16'),
                                       ('losa_vitb-shape_64px_recompute', 'recompute')])
def test_rows_name_the_memory_mode(name, mode):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from benchmark import describe
    cfg = Config.fromfile(osp.join(ROOT, f'configs/efficiency/{name}.py')).model.to_dict()
    assert describe(cfg, 112)['mode'] == mode


def test_recompute_config_derives_the_default_strategies_once(tmp_path):
    """The other strategies derived from a recompute config drop ``tap_recompute`` (only
    LoSA's neck reduces per clip), so a run over the default and the recompute config
    measures each of them once, and LoSA twice (one row per mode)."""
    default = osp.join(ROOT, 'configs/efficiency/losa_vitb-shape_64px.py')
    recompute = osp.join(ROOT, 'configs/efficiency/losa_vitb-shape_64px_recompute.py')
    cfg = Config.fromfile(recompute).model.to_dict()
    assert cfg['backbone']['tap_recompute'] is True
    for strategy in ('head_only', 'full_ft', 'adatad', 'unipt'):
        derived = derive_strategy_cfg(cfg, strategy)
        assert 'tap_recompute' not in derived['backbone'], strategy
        build_model_on_meta(derived)  # builds (a recompute flag would be refused)
    assert derive_strategy_cfg(cfg, 'losa')['backbone']['tap_recompute'] is True
    out = tmp_path / 'est.json'
    cmd = [sys.executable, osp.join(ROOT, 'tools/benchmark.py'), default, recompute,
           '--strategies', 'head_only', 'losa', 'unipt', '--frames', '256', '--size', '64',
           '--estimate', '--no-run', '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())['rows']
    assert [(r['strategy'], r['mode']) for r in rows] == [
        ('head_only', 'default'), ('losa', 'default'), ('unipt', 'default'),
        ('losa', 'recompute')]
    # the same learnable parameters, far less memory: no tap is stored
    assert rows[3]['learnable_params'] == rows[1]['learnable_params']
    assert rows[3]['est_terms_mb']['taps'] == 0 < rows[1]['est_terms_mb']['taps']


@pytest.mark.parametrize('strategy,prefix', [('st_adapter', 'st-adapter'), ('aim', 'aim'),
                                             ('unipt', 'unipt'), ('adatad', 'adatad')])
def test_method_strategies_are_the_baseline_configs(strategy, prefix):
    """A method derived from a LoSA config carries the model delta of
    configs/baselines/{method}_videomaev2-b_thumos14.py: same adapter / neck, and only
    the adapters (or the UniPT neck) learn beside the head."""
    cfg = Config.fromfile(TINY).model.to_dict()
    derived = derive_strategy_cfg(cfg, strategy)
    assert infer_strategy(derived) == strategy
    baseline = Config.fromfile(osp.join(
        ROOT, f'configs/baselines/{prefix}_videomaev2-b_thumos14.py')).model.to_dict()
    assert infer_strategy(baseline) == strategy
    assert derived['neck'] == baseline['neck']
    for key in ('type', 'adapter', 'tap_layers', 'with_cp'):
        assert derived['backbone'].get(key) == baseline['backbone'].get(key), key
    assert derived['backbone']['vit'] == cfg['backbone']['vit']  # the tiny ViT kept
    model = build_model_on_meta(derived)
    learn = [n for n, p in model.named_parameters() if p.requires_grad]
    own = 'neck.' if strategy == 'unipt' else 'backbone.adapters.'
    assert learn and all(n.startswith((own, 'head.')) for n in learn)


def test_throughput_mode_writes_fractions(tmp_path):
    """--throughput: peaks and forwards in one run; each row's figures are consistent
    with its own timings, the FLOP count is the architecture's, the load is recorded."""
    from losa_plugin.benchmark.throughput import vit_flops_per_clip
    out = tmp_path / 'tp.json'
    cmd = [sys.executable, osp.join(ROOT, 'tools/benchmark.py'), '--throughput', TINY,
           '--size', '32', '--repeats', '2', '--matmul-n', '128', '--min-seconds', '0',
           '--variants', 'fp32', 'bf16', 'bf16-autocast', '--threads', '1',
           '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    tp = json.loads(out.read_text())['throughput']
    vit = Config.fromfile(TINY).model.backbone.vit
    clip_len = Config.fromfile(TINY).model.backbone.get('clip_len', 16)
    tokens = clip_len // vit.tubelet_size * (32 // vit.patch_size)**2
    flops = vit_flops_per_clip(vit.embed_dims, vit.depth, tokens,
                               vit.tubelet_size * vit.patch_size**2)
    assert abs(tp['gflop_per_clip'] - flops['total'] / 1e9) < 1e-9
    assert set(tp['peaks']) == {'float32', 'bfloat16'}
    rows = {r['variant']: r for r in tp['rows']}
    assert set(rows) == {'fp32', 'bf16', 'bf16-autocast'}
    assert rows['fp32']['dtype'] == 'float32' and rows['bf16']['dtype'] == 'bfloat16'
    for r in rows.values():
        assert len(r['seconds']) == 2 and r['clips'] == tp['clips']
        rates = sorted(r['clips'] / s for s in r['seconds'])
        assert abs(r['clips_per_s'] - sum(rates) / 2) < 1e-9  # median of two
        assert abs(r['gflops'] - r['clips_per_s'] * tp['gflop_per_clip']) < 1e-6
        peak = tp['peaks'][r['dtype']]['gflops']
        assert abs(r['fraction'] - r['gflops'] / peak) < 1e-9 and r['peak_gflops'] == peak
    for key in ('load_before', 'load_after'):
        assert len(tp[key]['loadavg']) == 3
    assert 'fraction' in proc.stdout and 'bf16-autocast' in proc.stdout


def test_paired_time_interleaves_the_models(tmp_path):
    """--paired-time: every model steps once per round in one process; each ratio is the
    median of the per-round ratios to the first model (the first's own is 1)."""
    out = tmp_path / 'paired.json'
    cmd = [sys.executable, osp.join(ROOT, 'tools/benchmark.py'), TINY, '--frames', '32',
           '--size', '32', '--strategies', 'head_only', 'losa', '--estimate', '--no-run',
           '--paired-time', '3', '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    paired = json.loads(out.read_text())['paired_time']
    assert paired['reference'] == 'head_only (default)' and paired['rounds'] == 3
    models = paired['models']
    assert list(models) == ['head_only (default)', 'losa (default)']
    ref = models['head_only (default)']
    assert ref['step_time_s_vs_first'] == 1.0
    for item in models.values():
        assert len(item['rounds']) == 3
        ratios = sorted(r['step_time_s'] / b['step_time_s']
                        for r, b in zip(item['rounds'], ref['rounds']))
        assert item['step_time_s_vs_first'] == pytest.approx(ratios[1])
        assert item['step_time_s'] == pytest.approx(
            sorted(r['step_time_s'] for r in item['rounds'])[1])
    assert 'interleaved rounds' in proc.stdout and 'x1.00' in proc.stdout
