"""Aggregation and reporting of the synthetic benchmark: means over seeds, the paired
LoSA - head-only difference with its t-interval, tables, plots and ``results.json``.

Every mAP here is a fraction (as ``TALMetric`` reports it); tables and logs print
percent.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

TIOUS = (0.3, 0.4, 0.5, 0.6, 0.7)


def run_result(raw: dict, seed: int, online: bool = True) -> dict:
    """One run's figures from :mod:`benchmark_run`'s result (mAP as fractions).

    ``online``: the run computed the backbone itself (its memory and time are the
    strategy's own), as opposed to reading cached taps."""
    metrics = raw['metrics']
    missing = [k for k in ['average_mAP'] + [f'mAP@{t:.2f}' for t in TIOUS] if k not in metrics]
    if missing:
        raise RuntimeError(f'the test metrics lack {missing}; got {sorted(metrics)}')
    off = raw.get('metrics_gates_off') or {}
    out = dict(seed=seed, average_mAP=float(metrics['average_mAP']),
               mAP=[float(metrics[f'mAP@{t:.2f}']) for t in TIOUS],
               peak_mem_mb=raw['peak_mem_mb'], learnable_params=raw['learnable_params'],
               total_params=raw['total_params'], train_time_s=raw['train_time_s'],
               cpu_time_s=raw.get('cpu_time_s'), online=online,
               gates=raw.get('gates', {}), train_loss=raw.get('train_loss', {}),
               adapter_share=raw.get('adapter_share', {}), checkpoint=raw.get('checkpoint'),
               tap_cache=raw.get('tap_cache'))
    if 'average_mAP' in off:
        out['average_mAP_gates_off'] = float(off['average_mAP'])
    return out


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _std(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def summarize_runs(runs: List[dict]) -> dict:
    """Mean / std over the seeds of one strategy (fractions).

    ``peak_mem_mb`` and ``train_time_s`` average the *online* runs (the backbone computed
    in the run; with the tap cache those are the frozen strategies' first seed), so they
    are the strategy's own cost; the cached runs' figures are kept apart
    (``*_cached``)."""
    runs = sorted(runs, key=lambda r: r['seed'])
    avg = np.array([r['average_mAP'] for r in runs])
    maps = np.array([r['mAP'] for r in runs])
    online = [r for r in runs if r.get('online', True)] or runs
    cached = [r for r in runs if not r.get('online', True)]
    out = dict(
        average_mAP=float(avg.mean()),
        mAP=[float(x) for x in maps.mean(0)],
        **{'mAP_0.7': float(maps[:, TIOUS.index(0.7)].mean())},
        peak_mem_mb=_mean(r['peak_mem_mb'] for r in online),
        learnable_params=int(runs[0]['learnable_params']),
        train_time_s=_mean(r['train_time_s'] for r in online),
        seeds=[r['seed'] for r in runs],
        average_mAP_std=_std(avg),
        average_mAP_min=float(avg.min()),
        average_mAP_max=float(avg.max()),
        mAP_std=[_std(maps[:, k]) for k in range(len(TIOUS))],
        peak_mem_mb_std=_std([r['peak_mem_mb'] for r in online]),
        train_time_s_std=_std([r['train_time_s'] for r in online]),
        cpu_time_s=_mean(r.get('cpu_time_s') for r in runs),
        train_loss=_mean(r.get('train_loss', {}).get('loss') for r in runs),
        class_agnostic_average_mAP=_mean(r.get('class_agnostic_average_mAP') for r in runs),
        online_seeds=[r['seed'] for r in online],
        per_seed=runs,
    )
    if cached:
        out['peak_mem_mb_cached'] = _mean(r['peak_mem_mb'] for r in cached)
        out['train_time_s_cached'] = _mean(r['train_time_s'] for r in cached)
    shares = [r['adapter_share'] for r in runs if r.get('adapter_share')]
    if shares:  # RMS of the adapters' output over that of F_N, on the test set
        out['adapter_share'] = {k: float(np.mean([s[k] for s in shares])) for k in shares[0]}
    off = [r['average_mAP_gates_off'] for r in runs if 'average_mAP_gates_off' in r]
    if off:  # LoSA re-tested with every gate at zero: the adapters' share of the result
        out['average_mAP_gates_off'] = float(np.mean(off))
        out['average_mAP_gates_off_per_seed'] = [float(x) for x in off]
    gates = [r['gates'] for r in runs if r.get('gates')]
    if gates:
        names = list(gates[0])
        out['gates'] = {n: float(np.mean([g[n] for g in gates])) for n in names}
        out['gates_std'] = {n: _std([g[n] for g in gates]) for n in names}
    per_class = [r['per_class_average_AP'] for r in runs if r.get('per_class_average_AP')]
    if per_class:  # AP per class, averaged over the tIoU thresholds
        out['per_class_average_AP'] = {k: float(np.mean([p[k] for p in per_class]))
                                       for k in per_class[0]}
    with_ckpt = [r for r in runs if r.get('checkpoint')]
    if with_ckpt:  # the first seed's trained model and the config it was trained with
        out['checkpoint'] = with_ckpt[0]['checkpoint']
        out['checkpoint_config'] = with_ckpt[0].get('config_dump')
    return out


def paired_difference(a: Dict[int, float], b: Dict[int, float],
                      confidence: float = 0.95) -> dict:
    """Mean of the per-seed differences ``a[s] - b[s]`` over the seeds both have, with
    the two-sided t-interval of that mean.

    ``ci = mean -+ t_{(1 + confidence) / 2, n - 1} * sd / sqrt(n)`` with ``sd`` the
    sample standard deviation (ddof 1) of the differences: the interval of a paired
    t-test, which removes what the two strategies share per seed (data order, the head's
    initial draw). With fewer than two paired seeds the interval is None.

    Returns:
        ``dict(delta, ci95 | None, n, sd, t, per_seed={seed: difference})``; ``t`` is the
        paired t statistic (None when ``sd == 0`` or ``n < 2``).
    """
    from scipy import stats
    seeds = sorted(set(a) & set(b))
    d = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    n = len(d)
    if n == 0:
        raise ValueError(f'paired_difference: no common seeds ({sorted(a)} vs {sorted(b)})')
    mean = float(d.mean())
    if n < 2:
        return dict(delta=mean, ci95=None, n=n, sd=None, t=None,
                    per_seed={int(s): float(x) for s, x in zip(seeds, d)})
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / np.sqrt(n)
    return dict(delta=mean, ci95=[mean - half, mean + half], n=n, sd=sd,
                t=mean / (sd / np.sqrt(n)) if sd > 0 else None,
                per_seed={int(s): float(x) for s, x in zip(seeds, d)})


def paired_average_map(results: Dict[str, dict], strategy: str = 'losa',
                       baseline: str = 'head_only',
                       class_groups: Optional[Dict[str, Sequence[str]]] = None
                       ) -> Optional[dict]:
    """``{"delta_average_mAP", "ci95", "n", ...}``: ``strategy - baseline`` average mAP
    over the seeds both ran (None when one is missing). With ``class_groups``
    (e.g. the TAL classes seen / not seen in pretraining) also ``by_class_group``: the
    same paired difference of the mean AP over each group's classes."""
    if strategy not in results or baseline not in results:
        return None
    runs = {name: results[name]['per_seed'] for name in (strategy, baseline)}
    per = {name: {r['seed']: r['average_mAP'] for r in rs} for name, rs in runs.items()}
    p = paired_difference(per[strategy], per[baseline])
    out = dict(delta_average_mAP=p['delta'], ci95=p['ci95'], n=p['n'], sd=p['sd'],
               t=p['t'], per_seed=p['per_seed'], strategy=strategy, baseline=baseline)
    if class_groups and all(r.get('per_class_average_AP') for rs in runs.values() for r in rs):
        out['by_class_group'] = {}
        for group, classes in class_groups.items():
            per = {name: {r['seed']: float(np.mean([r['per_class_average_AP'][c]
                                                     for c in classes])) for r in rs}
                   for name, rs in runs.items()}
            g = paired_difference(per[strategy], per[baseline])
            out['by_class_group'][group] = dict(classes=list(classes), delta=g['delta'],
                                                ci95=g['ci95'], n=g['n'])
    return out


# ------------------------------------------------------------------ formatting
def _pct(x: Optional[float], digits: int = 1) -> str:
    return '–' if x is None else f'{100 * x:.{digits}f}'


def format_table(results: Dict[str, dict]) -> str:
    """Markdown table of one regime, percent: mean ± std over seeds [min–max]."""
    head = ('| strategy | seeds | avg mAP (%) | ' + ' | '.join(f'mAP@{t}' for t in TIOUS)
            + ' | peak train mem (MB) | learnable params | train time (s) | final train loss |')
    lines = [head, '|' + '---|' * (7 + len(TIOUS))]
    for name, r in results.items():
        if name.startswith('_'):
            continue
        n = len(r['seeds'])
        spread = (f' ± {100 * r["average_mAP_std"]:.1f} [{_pct(r["average_mAP_min"])}–'
                  f'{_pct(r["average_mAP_max"])}]' if n > 1 else '')
        maps = ' | '.join(_pct(m) + (f' ± {100 * s:.1f}' if n > 1 else '')
                          for m, s in zip(r['mAP'], r['mAP_std']))
        online = len(r.get('online_seeds', r['seeds']))
        mem = ('–' if r['peak_mem_mb'] is None else f'{r["peak_mem_mb"]:.0f}'
               + (f' ± {r["peak_mem_mb_std"]:.0f}' if online > 1 else ''))
        tt = ('–' if r['train_time_s'] is None else f'{r["train_time_s"]:.0f}'
              + (f' ± {r["train_time_s_std"]:.0f}' if online > 1 else ''))
        loss = r.get('train_loss')
        lines.append(f'| {name} | {n} | {_pct(r["average_mAP"])}{spread} | {maps} | {mem} | '
                     f'{r["learnable_params"]:,} | {tt} | '
                     f'{"–" if loss is None else f"{loss:.3f}"} |')
    return '\n'.join(lines)


def format_paired(paired: Dict[str, Optional[dict]]) -> str:
    """Markdown table of the paired differences per regime, percent points."""
    lines = ['| regime | LoSA − head-only, avg mAP (points) | 95 % CI | n | per seed |',
             '|---|---|---|---|---|']
    for regime, p in paired.items():
        if p is None:
            continue
        ci = ('–' if p['ci95'] is None else
              f'[{100 * p["ci95"][0]:+.2f}, {100 * p["ci95"][1]:+.2f}]')
        seeds = ', '.join(f'{100 * v:+.1f}' for v in p['per_seed'].values())
        lines.append(f'| {regime} | {100 * p["delta_average_mAP"]:+.2f} | {ci} | {p["n"]} | '
                     f'{seeds} |')
        for group, g in (p.get('by_class_group') or {}).items():
            gci = ('–' if g['ci95'] is None else
                   f'[{100 * g["ci95"][0]:+.2f}, {100 * g["ci95"][1]:+.2f}]')
            lines.append(f'| {regime}, mean AP of the {group} classes '
                         f'({", ".join(g["classes"])}) | {100 * g["delta"]:+.2f} | {gci} | '
                         f'{g["n"]} | |')
        floor = p.get('vs_best_block')
        if floor is not None:
            seeds = ', '.join(f'{100 * v:+.1f}' for v in floor['per_seed'].values())
            lines.append(f'| {regime}, LoSA − head-only on block {floor["block"]} (the '
                         f'floor) | {100 * floor["delta_average_mAP"]:+.2f} | '
                         f'{_ci(floor["ci95"])} | {floor["n"]} | {seeds} |')
    return '\n'.join(lines)


def _ci(ci: Optional[Sequence[float]]) -> str:
    return '–' if ci is None else f'[{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]'


def format_qualification(qualified: Dict[str, dict]) -> str:
    """Markdown table of the qualification checks per regime (docs/synthetic_benchmark.md,
    "The invariant regime"), percent."""
    lines = ['| regime | TAL-class probe per block (%) | best block − last (points) | '
             'head-only on it − head-only | full FT − head-only | premise holds |',
             '|---|---|---|---|---|---|']
    for regime, q in qualified.items():
        probe = ', '.join(f'{k} {100 * v:.0f}' for k, v in (q['probe'] or {}).items())
        c1 = q['probe_check']
        c1 = ('–' if c1 is None else f'block {c1["block"]}: {100 * c1["margin"]:+.1f} '
              f'({"passes" if c1["passes"] else "fails"}, needs '
              f'{100 * c1["required_margin"]:+.0f})')
        cells = []
        for key in ('head_only_best_block', 'full_ft'):
            c = q[key]
            cells.append('–' if c is None else
                         f'{100 * c["delta_average_mAP"]:+.2f} {_ci(c["ci95"])}, n = {c["n"]} '
                         f'({"passes" if c["passes"] else "fails"})')
        lines.append(f'| {regime} | {probe} | {c1} | {cells[0]} | {cells[1]} | '
                     f'{"yes" if q["premise_holds"] else "no"} |')
    return '\n'.join(lines)


def format_per_class(results: Dict[str, dict], seen: Sequence[str] = ()) -> str:
    """Markdown table: AP per class (mean over seeds and tIoU thresholds), percent;
    classes seen in pretraining marked with *."""
    names = [n for n in strategy_names(results) if results[n].get('per_class_average_AP')]
    if not names:
        return ''
    classes = list(results[names[0]]['per_class_average_AP'])
    head = '| strategy | ' + ' | '.join(c + ('*' if c in seen else '') for c in classes) + ' |'
    lines = [head, '|' + '---|' * (len(classes) + 1)]
    for n in names:
        ap = results[n]['per_class_average_AP']
        lines.append(f'| {n} | ' + ' | '.join(_pct(ap.get(c)) for c in classes) + ' |')
    return '\n'.join(lines)


def format_gates(gates: Dict[str, float], std: Optional[Dict[str, float]] = None) -> str:
    """``short: layer1 +0.012 ± 0.003, ...`` one branch a line."""
    lines = []
    for branch in ('short', 'long'):
        items = [(k, v) for k, v in gates.items() if k.startswith(branch + '/')]
        if items:
            lines.append(f'{branch}: ' + ', '.join(
                f'{k.split("/", 1)[1]} {v:+.3f}' + (f' ± {std[k]:.3f}' if std else '')
                for k, v in items))
    return '\n'.join(lines)


def format_adapter_share(share: Dict[str, float]) -> str:
    """``short 0.0001, short/layer1 0.0213, ...`` (see ``AdapterShare``)."""
    return ', '.join(f'{k} {v:.4f}' for k, v in share.items())


def strategy_names(results: Dict[str, dict]) -> List[str]:
    return [n for n in results if not n.startswith('_')]


def format_regime_notes(name: str, results: Dict[str, dict]) -> List[str]:
    """Gates per layer, gates-off re-test and adapter share of the gated strategies."""
    md = []
    for strategy, r in results.items():
        if strategy.startswith('_') or not r.get('gates'):
            continue
        md.append(f'\n{name} / {strategy}: gates per layer after training (mean ± std over '
                  f'seeds; zero at init):\n\n```\n{format_gates(r["gates"], r["gates_std"])}'
                  '\n```')
        if 'average_mAP_gates_off' in r:
            per = ', '.join(f'{100 * x:.1f}' for x in r['average_mAP_gates_off_per_seed'])
            md.append(f'\n{name} / {strategy} re-tested with every gate set to zero: average '
                      f'mAP {_pct(r["average_mAP_gates_off"], 2)} % [{per}] (learned gates: '
                      f'{_pct(r["average_mAP"], 2)} %)')
        if r.get('adapter_share'):
            md.append(f'\n{name} / {strategy} adapter output RMS / F_N RMS (test set; gated '
                      'sums per branch, then each ungated adapter): '
                      f'{format_adapter_share(r["adapter_share"])}')
    return md


def format_pretraining(name: str, info: dict) -> str:
    """One line: the pretraining's final val top-1 and its per-epoch curve."""
    curve = info.get('val_top1') or []
    pts = ', '.join(f'{100 * a:.0f}' for a in curve)
    final = f'{100 * curve[-1]:.1f} %' if curve else 'n/a'
    takeoff = info.get('takeoff_epoch')
    return (f'{name}: pretraining val top-1 {final} after {len(curve)} epochs (chance '
            f'{100 / info["num_classes"]:.0f} %, {info["num_classes"]} classes; take-off '
            f'(>= 50 %) at epoch {takeoff if takeoff else "none"}); per epoch: {pts}'
            + (f' [backbone: {info["source"]}]' if info.get('source') else ''))


def write_outputs(regimes: Dict[str, Dict[str, dict]], paired: Dict[str, Optional[dict]],
                  meta: dict, out_dir: str,
                  qualified: Optional[Dict[str, dict]] = None) -> None:
    """``results.json`` (``{"regimes", "paired", "qualification", "_meta"}``, mAP as
    fractions), ``results.md`` (percent), ``results.png`` and ``gates.png``."""
    from .benchmark_plots import plot_gates, plot_results
    with open(osp.join(out_dir, 'results.json'), 'w') as f:
        json.dump(dict(regimes=regimes, paired=paired, qualification=qualified or {},
                       _meta=meta), f, indent=1)
    md = ['# Synthetic TAL benchmark', '']
    for name, info in meta.get('regimes', {}).items():
        agnostic = info.get('random_predictions_class_agnostic_average_mAP')
        md.append('* ' + format_pretraining(name, info['pretrain']) + f'; random detections '
                  f'{_pct(info["random_predictions_average_mAP"], 2)} % average mAP'
                  + (f' ({_pct(agnostic, 2)} % class-agnostic)' if agnostic is not None
                     else ''))
    for name, results in regimes.items():
        md += ['', f'## {name}', '', format_table(results)]
        info = meta.get('regimes', {}).get(name, {})
        seen = [c for c in info.get('tal_classes', []) if c in info.get('pretrain_classes', [])]
        per_class = format_per_class(results, seen)
        if per_class:
            md += ['', 'AP per class (%, mean over seeds and tIoU 0.3:0.1:0.7; * = seen in '
                   'pretraining):', '', per_class]
        md += format_regime_notes(name, results)
    if qualified:
        md += ['', '## Qualification: does the regime satisfy LoSA\'s premise? (no LoSA)', '',
               format_qualification(qualified)]
    md += ['', '## Paired difference, LoSA − head-only (same seeds)', '', format_paired(paired)]
    with open(osp.join(out_dir, 'results.md'), 'w') as f:
        f.write('\n'.join(md) + '\n')
    plot_results(regimes, paired, osp.join(out_dir, 'results.png'))
    plot_gates(regimes, osp.join(out_dir, 'gates.png'))
