"""The synthetic benchmark: its regimes, statistics, tap cache, scheduling and the quick
run end to end (``tools/synthetic_benchmark.py --quick``, both regimes).

The end-to-end test is slow by design (CI runs it: a few minutes on 2 cores): it
generates the quick data of both regimes, pretrains both ViTs, trains and tests
head-only and LoSA (2 seeds, the second reading cached taps) and full fine-tuning through
mmengine's Runner, and writes the result files. Each strategy must beat the level of
random detections recomputed on the same test videos (docs/synthetic_benchmark.md,
"The test's floor").
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from losa_plugin.synthetic.benchmark import ABLATIONS, DIAGNOSTICS, STRATEGIES
from losa_plugin.synthetic.benchmark_report import (TIOUS, format_table, paired_difference,
                                                    summarize_runs)
from losa_plugin.synthetic.benchmark_steps import (finished_run, shuffled_label_file,
                                                   tal_overrides)
from losa_plugin.synthetic.regimes import REGIMES

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


# ----------------------------------------------------------------- regimes
def test_transfer_regime_pretraining_and_tal_classes_differ_as_specified(tmp_path):
    from losa_plugin.synthetic import generate_trimmed, generate_untrimmed
    transfer = REGIMES['transfer']
    pre, tal = (set(c) for c in transfer.class_sets())
    assert tal - pre, 'some TAL motions must never be seen in pretraining'
    assert pre - tal, 'some pretraining classes must never occur in the untrimmed videos'
    assert pre & tal, 'some TAL motions are seen in pretraining'
    # the generated files say the same: labels of the annotation and of the clip lists
    pre_cfg, tal_cfg = transfer.pretrain_cfg(), transfer.tal_cfg()
    ann = generate_untrimmed(str(tmp_path / 'u'), 3, seed=0,
                             cfg=tal_cfg.__class__(**dict(tal_cfg.to_dict(),
                                                          video_duration=(12.0, 14.0))))
    with open(ann) as f:
        db = json.load(f)['database']
    seen = {a['label'] for e in db.values() for a in e['annotations']}
    assert seen <= tal and seen & (tal - pre) and not seen & (pre - tal)
    with open(osp.join(osp.dirname(ann), 'classes.txt')) as f:
        assert [c.strip() for c in f] == list(transfer.class_sets()[1])
    train, _ = generate_trimmed(str(tmp_path / 't'), 1, seed=0, cfg=pre_cfg)
    with open(osp.join(osp.dirname(train), 'classes.txt')) as f:
        assert {c.strip() for c in f} == pre
    # the rest of the design: a deeper backbone, distractor motion, gradual onsets
    assert transfer.vit()['depth'] >= 8 > REGIMES['aligned'].vit()['depth']
    assert tal_cfg.moving_distractors[0] >= 1 and tal_cfg.ramp_in[0] > 0
    assert pre_cfg.moving_distractors == (0, 0)  # clean pretraining clips
    aligned = REGIMES['aligned'].class_sets()
    assert aligned[0] == aligned[1]


def test_regime_overrides_put_the_backbone_into_every_strategy():
    from mmengine.config import Config
    for regime in REGIMES.values():
        vit = regime.vit()
        for config in list(STRATEGIES.values()) + list(ABLATIONS.values()):
            cfg = Config.fromfile(config)
            cfg.merge_from_dict(regime.tal_model_overrides())
            assert cfg.model.backbone.vit.to_dict() == vit, config
            assert cfg.model.head.in_channels == vit['embed_dims']


# ------------------------------------------------------------- statistics
def test_paired_interval_comes_from_per_seed_differences():
    # hand-made: differences 0.03, -0.01, 0.04, 0.02 (seed 4 only in `a`: ignored)
    a = {0: 0.30, 1: 0.25, 2: 0.28, 3: 0.31, 4: 0.99}
    b = {0: 0.27, 1: 0.26, 2: 0.24, 3: 0.29}
    out = paired_difference(a, b)
    # mean 0.02; sd = sqrt((0.01^2 + 0.03^2 + 0.02^2 + 0) / 3) = 0.0216025;
    # t_{0.975, 3} = 3.1824463 (tables); half width = 3.1824463 * 0.0216025 / 2 = 0.0343743
    assert out['n'] == 4 and out['delta'] == pytest.approx(0.02, abs=1e-12)
    assert out['sd'] == pytest.approx(0.0216025, abs=1e-7)
    assert out['ci95'] == pytest.approx([0.02 - 0.0343743, 0.02 + 0.0343743], abs=1e-6)
    assert out['t'] == pytest.approx(1.85164, abs=1e-5)  # 0.02 / (0.0216025 / 2)
    assert out['per_seed'] == pytest.approx({0: 0.03, 1: -0.01, 2: 0.04, 3: 0.02})
    # an unpaired interval of the same numbers would be far wider (seed effects stay in)
    pooled_half = 2.4469119 * np.sqrt(np.var([.30, .25, .28, .31], ddof=1) / 4
                                      + np.var([.27, .26, .24, .29], ddof=1) / 4)
    assert out['ci95'][1] - out['ci95'][0] < 2 * pooled_half
    one = paired_difference({0: 0.5}, {0: 0.25})
    assert one['ci95'] is None and one['delta'] == pytest.approx(0.25)


def _run(seed, avg, mem, gate=None, online=True):
    return dict(seed=seed, average_mAP=avg, mAP=[avg] * len(TIOUS), peak_mem_mb=mem,
                learnable_params=10, train_time_s=1.0 + seed, online=online,
                gates={'short/layer1': gate} if gate is not None else {})


def test_summarize_runs_mean_spread_and_online_cost():
    out = summarize_runs([_run(1, 0.20, 50.0, 0.3, online=False), _run(0, 0.10, 100.0, 0.1)])
    assert out['average_mAP'] == pytest.approx(0.15)
    assert out['average_mAP_std'] == pytest.approx(0.070710678)
    assert (out['average_mAP_min'], out['average_mAP_max']) == (0.10, 0.20)
    assert out['mAP_0.7'] == pytest.approx(0.15)
    assert out['seeds'] == [0, 1]
    # memory and time of the strategy are those of its online run, not the cached one
    assert out['peak_mem_mb'] == pytest.approx(100.0) and out['train_time_s'] == 1.0
    assert out['peak_mem_mb_cached'] == pytest.approx(50.0)
    assert out['gates']['short/layer1'] == pytest.approx(0.2)
    table = format_table({'losa': out})
    assert '| losa | 2 | 15.0 ± 7.1 [10.0–20.0] |' in table


def test_shuffled_label_file_keeps_segments_and_permutes_labels(tmp_path):
    db = {f'v{i}': dict(subset='Validation' if i < 3 else 'Test', duration=10.0, fps=12.0,
                        annotations=[dict(label=f'C{(i + k) % 3}', label_id=(i + k) % 3,
                                          segment=[k, k + 1.0]) for k in range(4)])
          for i in range(4)}
    ann = tmp_path / 'a.json'
    ann.write_text(json.dumps(dict(database=db)))
    out = json.loads(open(shuffled_label_file(str(ann), seed=1)).read())['database']
    train = [a for v in db.values() if v['subset'] == 'Validation' for a in v['annotations']]
    shuf = [a for v in out.values() if v['subset'] == 'Validation' for a in v['annotations']]
    assert [a['segment'] for a in shuf] == [a['segment'] for a in train]
    assert sorted(a['label_id'] for a in shuf) == sorted(a['label_id'] for a in train)
    assert [a['label_id'] for a in shuf] != [a['label_id'] for a in train]
    assert all(a['label'] == f'C{a["label_id"]}' for a in shuf)
    assert out['v3'] == db['v3']  # the test subset is untouched


def test_tal_overrides_follow_the_data():
    data = dict(ann_file='a.json', video_dir='v', num_classes=4)
    out = tal_overrides(data, 'ckpt.pth', seed=3, max_epochs=2)
    assert out['model.head.num_classes'] == 4
    assert out['model.backbone.pretrained'] == 'ckpt.pth' and out['randomness.seed'] == 3
    assert out['train_cfg.val_begin'] == 3  # no validation pass before the test
    assert 'model.head.num_classes' not in tal_overrides(
        dict(ann_file='a.json', video_dir='v'), 'ckpt.pth', seed=0, max_epochs=2)


def test_finished_run_is_reused_only_for_the_same_spec(tmp_path):
    spec = dict(config='c.py', work_dir=str(tmp_path), threads=1, test=True,
                overrides={'randomness.seed': 0, 'param_scheduler': [dict(type='X')]},
                result=str(tmp_path / 'result.json'))
    spec_file, det_file = tmp_path / 'spec.json', tmp_path / 'detections.json'
    spec_file.write_text(json.dumps(spec))
    assert finished_run(spec, str(spec_file), str(det_file)) is None  # no result yet
    (tmp_path / 'result.json').write_text(json.dumps(dict(metrics={'average_mAP': 0.1})))
    assert finished_run(spec, str(spec_file), str(det_file)) is None  # no detections
    det_file.write_text('{}')
    assert finished_run(spec, str(spec_file), str(det_file)) == dict(
        metrics={'average_mAP': 0.1})
    other = dict(spec, overrides=dict(spec['overrides'], **{'randomness.seed': 1}))
    assert finished_run(other, str(spec_file), str(det_file)) is None


# ------------------------------------------------------ pretraining schedule
def test_takeoff_schedule_holds_then_decays_and_stops():
    import math
    from types import SimpleNamespace
    from losa_plugin.synthetic.takeoff_schedule import TakeoffLRSchedule
    groups = [dict(lr=1e-3, initial_lr=1e-3), dict(lr=2e-3, initial_lr=2e-3)]
    runner = SimpleNamespace(max_epochs=60, epoch=0, train_dataloader=[0] * 10,
                             optim_wrapper=SimpleNamespace(optimizer=SimpleNamespace(
                                 param_groups=groups)),
                             train_loop=SimpleNamespace(stop_training=False),
                             logger=SimpleNamespace(info=lambda msg: None))
    hook = TakeoffLRSchedule(takeoff=0.5, hold_epochs=2, decay_epochs=4, eta_min=0.0)
    hook.before_train(runner)
    assert hook.decay_start == 56  # no take-off yet: decay over the last 4 of 60 epochs
    for epoch, acc in enumerate([0.2, 0.3, 0.55, 0.4, 0.8], start=1):
        runner.epoch = epoch
        hook.after_val_epoch(runner, {'acc/top1': acc})
    assert hook.takeoff_epoch == 3 and hook.decay_start == 5  # epochs 4, 5 (1-based) full
    runner.epoch = 4  # 0-based index: the 5th epoch, still full lr
    hook.before_train_iter(runner, 0)
    assert [g['lr'] for g in groups] == [1e-3, 2e-3]
    runner.epoch = 7  # half-way through the decay (epochs 5..8), iteration 0
    hook.before_train_iter(runner, 0)
    # cosine at t = (7 - 5) / 4 = 0.5: 0.5 * (1 + cos(pi / 2)) = 0.5
    assert [g['lr'] for g in groups] == pytest.approx([0.5e-3, 1e-3])
    runner.epoch = 5
    hook.before_train_iter(runner, 5)  # t = 0.5 / 4 of the decay
    assert groups[0]['lr'] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi / 8)))
    runner.epoch = 8
    hook.after_val_epoch(runner, {'acc/top1': 0.9})
    assert not runner.train_loop.stop_training
    runner.epoch = 9  # 3 + 2 + 4 epochs done
    hook.after_val_epoch(runner, {'acc/top1': 0.9})
    assert runner.train_loop.stop_training


# ------------------------------------------------------------ scheduling
def test_tasks_start_when_ready_and_the_quiet_estimate_replays_the_policy():
    import threading
    import time
    from losa_plugin.synthetic.tasks import Task, run_tasks, simulate_schedule
    order, lock = [], threading.Lock()

    def work(name, seconds):
        def fn():
            with lock:
                order.append(name)
            time.sleep(seconds)
            return name
        return fn
    tasks = [Task('pre', work('pre', 0.3)), Task('tal', work('tal', 0.01), ['pre']),
             Task('gen', work('gen', 0.01)), Task('other', work('other', 0.01))]
    assert run_tasks(tasks, 2) == {t.name: t.name for t in tasks}
    # 'tal' waits for 'pre'; the free slot takes the ready tasks behind it meanwhile
    assert order.index('tal') == 3
    # pre 0-10 | gen 0-1, other 1-2, then tal 10-15 (after pre): makespan 15
    assert simulate_schedule(tasks, dict(pre=10, tal=5, gen=1, other=1), 2) == 15
    assert simulate_schedule(tasks, dict(pre=10, tal=5, gen=1, other=1), 1) == 17
    with pytest.raises(RuntimeError, match='cycle'):
        run_tasks([Task('x', work('x', 0), ['y']), Task('y', work('y', 0), ['x'])], 2)


# ------------------------------------------------------------- tap cache
def _synthetic_backbone(config: str, regime: str = 'aligned'):
    import torch
    from mmengine.config import Config
    from mmaction.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(REGIMES[regime].tal_model_overrides())
    torch.manual_seed(0)
    backbone = MODELS.build(dict(cfg.model.backbone, pretrained=None))
    backbone.init_weights()
    return backbone


def test_clip_tap_cache_returns_the_online_taps(tmp_path):
    import torch
    from losa_plugin.synthetic.clip_tap_cache import ClipTapCache
    backbone = _synthetic_backbone(STRATEGIES['losa'], 'transfer')
    torch.manual_seed(1)
    frames = torch.randn(2, 3, 48, 64, 64)
    mask = torch.ones(2, 48, dtype=torch.bool)
    mask[1, 40:] = False  # a partly padded last clip
    online = backbone(frames, mask)
    cache = ClipTapCache(backbone, str(tmp_path), 'read').install()
    first = backbone(frames, mask)
    assert (cache.hits, cache.misses) == (0, 6)
    # a window shifted by one clip shares two clips with the first one
    second = backbone(frames[:, :, 16:], mask[:, 16:])
    assert (cache.hits, cache.misses) == (4, 6)
    again = backbone(frames, mask)
    assert (cache.hits, cache.misses) == (10, 6)
    for out in (first, again):
        assert out.layer_ids == online.layer_ids
        for name in ('clip_mask', 'frame_mask', 'pooled_last'):
            torch.testing.assert_close(getattr(out, name), getattr(online, name),
                                       atol=1e-5, rtol=1e-5)
        for x, y in zip(out.feats, online.feats):
            torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(second.pooled_last, online.pooled_last[:, 1:],
                               atol=1e-5, rtol=1e-5)
    # write mode: the online forward, clips stored for later readers
    backbone2 = _synthetic_backbone(STRATEGIES['losa'], 'transfer')
    writer = ClipTapCache(backbone2, str(tmp_path / 'w'), 'write').install()
    torch.testing.assert_close(backbone2(frames, mask).pooled_last, online.pooled_last)
    assert writer.misses == 6 and len(os.listdir(writer.store.cache_dir)) == 6 + 1  # meta
    # head-only taps another layer set: a cache of its own, never mixed
    head_only = ClipTapCache(_synthetic_backbone(STRATEGIES['head_only'], 'transfer'),
                             str(tmp_path), 'read')
    assert head_only.store.cache_dir != cache.store.cache_dir
    with pytest.raises(ValueError, match='frozen'):
        ClipTapCache(_synthetic_backbone(STRATEGIES['full_ft']), str(tmp_path))


# --------------------------------------------------------- configs / runs
def _build(config: str):
    from mmengine.config import Config
    from mmaction.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.backbone.pretrained = None
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('config,mult', [(STRATEGIES['losa'], 10.0),
                                         (ABLATIONS['gate_lr1'], 1.0)])
def test_gate_lr_mult_changes_only_the_gates_lr(config, mult):
    from mmengine.optim import build_optim_wrapper
    cfg, model = _build(config)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_of = {id(p): group['lr'] for group in wrapper.optimizer.param_groups
             for p in group['params']}
    base = cfg.optim_wrapper.optimizer.lr
    gates = 0
    for name, p in model.named_parameters():
        if p.requires_grad:
            hit = name.startswith('neck.fusion.gates_')
            gates += hit
            assert lr_of[id(p)] == pytest.approx(base * (mult if hit else 1)), name
    assert gates == 2  # the short and long gate vectors


def _losa_neck_and_taps():
    """The synthetic LoSA config's neck (eval) and random taps of its 4-block ViT:
    ``[1, 2 clips, 8, 4, 4, 96]`` per block and ``F_N`` ``[1, 2, 8, 96]``."""
    import torch
    from losa_plugin.models.backbones.tap_output import TapOutput
    torch.manual_seed(0)
    neck = _build(STRATEGIES['losa'])[1].neck.eval()
    taps = TapOutput(tuple(torch.randn(1, 2, 8, 4, 4, 96) for _ in range(4)), (1, 2, 3, 4),
                     torch.ones(1, 2, dtype=torch.bool), pooled_last=torch.randn(1, 2, 8, 96))
    return neck, taps


def test_gates_zeroed_removes_the_adapters_then_restores_the_gates():
    import torch
    from losa_plugin.synthetic.benchmark_run import _gates_zeroed, _learned_gates
    neck, taps = _losa_neck_and_taps()
    gates = _learned_gates(neck)
    assert len(gates) == 2
    with torch.no_grad():
        for g in gates:
            g.uniform_(0.5, 1.0)
    trained = [g.detach().clone() for g in gates]
    with torch.no_grad():
        gated, _ = neck(taps)
        with _gates_zeroed(neck):
            off, _ = neck(taps)
        again, _ = neck(taps)
    # Proj is still [I/2, I/2] here, so without the adapters the neck gives F_N
    torch.testing.assert_close(off, taps.pooled_last.reshape(1, 16, 96).transpose(1, 2))
    assert not torch.allclose(gated, off, atol=1e-3)
    torch.testing.assert_close(again, gated)
    for g, value in zip(gates, trained):
        assert torch.equal(g, value)
    assert _learned_gates(_build(STRATEGIES['head_only'])[1].neck) == []


def test_adapter_share_measures_the_gated_adapters_against_f_n():
    import torch
    from losa_plugin.synthetic.benchmark_run import AdapterShare
    neck, taps = _losa_neck_and_taps()
    seen = {}
    hook = neck.fusion.register_forward_hook(lambda m, a, o: seen.update(args=a))
    with torch.no_grad(), AdapterShare(neck) as share:
        neck(taps)
        neck.fusion.gates_short.fill_(2.0)
        neck(taps)
    hook.remove()
    f_last, short = seen['args'][:2]
    ratio = share.result()
    assert ratio['long'] == 0.0  # zero gates: nothing added
    # two calls: zero then 2 * sum(FS_i); F_N the same both times
    expected = (2 * torch.stack(short).sum(0)).norm() / (2 ** 0.5 * f_last.norm())
    assert ratio['short'] == pytest.approx(float(expected), rel=1e-4)
    assert ratio['short/layer1'] == pytest.approx(float(short[0].norm() / f_last.norm()),
                                                  rel=1e-4)
    with AdapterShare(_build(STRATEGIES['head_only'])[1].neck) as s:
        pass
    assert s.result() == {}


def test_head_only_diagnostics_read_one_intermediate_block():
    from mmengine.config import Config
    from mmaction.registry import MODELS
    config, overrides = DIAGNOSTICS['head_only_layer2']
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(overrides, **{'model.backbone.pretrained': None}))
    model = MODELS.build(cfg.model)
    assert list(model.backbone.layer_ids) == [2]
    assert type(model.neck).__name__ == 'LastLayerNeck'


# ------------------------------------------------------------ end to end
@pytest.mark.slow(cpu_s=450)
@pytest.mark.timeout(3000)
def test_quick_benchmark_end_to_end(tmp_path):
    out = tmp_path / 'bench'
    env = dict(os.environ, PYTHONPATH=ROOT)
    # ~4 min on a quiet 2-core machine; a machine shared with other jobs (load ~10) took
    # over 18 min, so the time limit is generous
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'synthetic_benchmark.py'), '--quick',
         '--out', str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=2700)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ('results.json', 'results.md', 'results.png', 'gates.png'):
        assert (out / name).is_file(), name
    content = json.loads((out / 'results.json').read_text())
    assert set(content['regimes']) == {'aligned', 'transfer'}
    assert content['_meta']['mAP_unit'] == 'fraction'
    for regime, results in content['regimes'].items():
        meta = content['_meta']['regimes'][regime]
        # outputs that ignore the video reach this level on these test videos
        floor = meta['random_predictions_average_mAP']
        assert 0 < floor < 0.1, (regime, floor)
        # merging the classes only adds matches for random detections
        assert meta['random_predictions_class_agnostic_average_mAP'] > floor
        assert len(meta['pretrain']['val_top1']) == 4  # one val top-1 per pretraining epoch
        for strategy in ('head_only', 'losa', 'full_ft'):
            r = results[strategy]
            for key in ('average_mAP', 'mAP', 'mAP_0.7', 'peak_mem_mb', 'learnable_params',
                        'train_time_s', 'seeds'):
                assert key in r, (regime, strategy, key)
            assert r['average_mAP'] == pytest.approx(sum(r['mAP']) / len(TIOUS), abs=1e-9)
            assert r['average_mAP'] > floor, (regime, strategy, r['average_mAP'], floor)
            assert 0 < r['train_loss'] < 10, (regime, strategy, r['train_loss'])
        assert results['head_only']['seeds'] == results['losa']['seeds'] == [0, 1]
        # the second seed of the frozen strategies read the taps its first seed cached
        cached = results['losa']['per_seed'][1]['tap_cache']
        assert cached['mode'] == 'read' and cached['hits'] > 0
        assert results['full_ft']['learnable_params'] > results['losa']['learnable_params'] \
            > results['head_only']['learnable_params']
        gates = results['losa']['gates']
        blocks = meta['backbone']['depth']
        assert set(gates) == {f'{b}/layer{i}' for b in ('short', 'long')
                              for i in range(1, blocks)}
        assert any(abs(v) > 1e-4 for v in gates.values())  # zero-initialised gates moved
        # ... and what they let through reaches the detections: the same trained models
        # re-tested with every gate at zero score differently
        on = [r['average_mAP'] for r in results['losa']['per_seed']]
        off = results['losa']['average_mAP_gates_off_per_seed']
        assert len(off) == len(on) == 2 and off != on, (regime, on, off)
        assert osp.isfile(results['losa']['checkpoint'])
        p = content['paired'][regime]
        per = {r['seed']: r['average_mAP'] for r in results['losa']['per_seed']}
        base = {r['seed']: r['average_mAP'] for r in results['head_only']['per_seed']}
        assert p['n'] == 2 and p['delta_average_mAP'] == pytest.approx(
            np.mean([per[s] - base[s] for s in (0, 1)]))
        assert p['ci95'][0] <= p['delta_average_mAP'] <= p['ci95'][1]
    md = (out / 'results.md').read_text()
    assert '## aligned' in md and '## transfer' in md and 'Paired difference' in md
    _check_console(proc.stdout, out, content)


def _check_console(stdout: str, out, content: dict) -> None:
    """What a person sees of the quick run: a short progress log (one line per step
    event, not the runs' mmengine logs), each TAL run's average mAP as results.json has
    it, the results tables and where the files are."""
    lines = stdout.splitlines()
    assert len(lines) < 200, len(lines)
    for noise in ('Epoch(train)', 'requires_grad=False', 'paramwise_options', 'Config:'):
        assert noise not in stdout, noise
    for regime, results in content['regimes'].items():
        for strategy, r in results.items():
            for run in r['per_seed']:
                line = [x for x in lines if f'({strategy}, {regime}, seed {run["seed"]}): '
                        'average mAP' in x]
                assert len(line) == 1, (regime, strategy, run['seed'], line)
                assert f'average mAP {100 * run["average_mAP"]:.1f} %' in line[0]
        # the table of each regime as results.md has it
        table = format_table(results).splitlines()
        start = lines.index(f'{regime}:')
        assert lines[start + 1:start + 1 + len(table)] == table
    assert 'Paired difference, LoSA − head-only' in stdout
    for name in ('results.md', 'results.json', 'results.png', 'gates.png'):
        assert str(out / name) in stdout, name
    # each run's full log is in its folder, with one summary of the frozen parameters
    run_log = (out / 'runs' / 'quick-s0' / 'aligned' / 'losa_seed0' / 'console.log').read_text()
    assert 'Epoch(train)' in run_log and 'requires_grad=False' in run_log
    assert 'is skipped since its requires_grad=False' not in run_log
    logs = list((out / 'logs').glob('benchmark_*.log'))
    assert len(logs) == 1 and str(logs[0]) in stdout
    assert 'aligned/losa seed 0: average mAP' in logs[0].read_text()
