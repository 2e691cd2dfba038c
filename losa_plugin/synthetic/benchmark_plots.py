"""Figures of the synthetic benchmark: ``results.png`` and ``gates.png``, one row per
regime (mAP as fractions in, percent on the axes)."""
from typing import Dict, Optional

import numpy as np

from .benchmark_report import TIOUS, strategy_names


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_results(regimes: Dict[str, Dict[str, dict]], paired: Dict[str, Optional[dict]],
                 out_file: str) -> None:
    """Per regime: average mAP (mean ± std, seeds as dots), mAP against tIoU, peak
    training memory of the online runs, and the per-seed LoSA - head-only differences
    with their 95 % t-interval."""
    plt = _pyplot()
    rows = list(regimes)
    fig, axes = plt.subplots(len(rows), 4, figsize=(18, 3.9 * len(rows)), squeeze=False)
    for row, regime in zip(axes, rows):
        results = regimes[regime]
        names = strategy_names(results)
        x = np.arange(len(names))
        row[0].bar(x, [100 * results[n]['average_mAP'] for n in names],
                   yerr=[100 * results[n]['average_mAP_std'] for n in names], capsize=4,
                   color='tab:blue')
        for n, i in zip(names, x):
            seeds = [100 * r['average_mAP'] for r in results[n]['per_seed']]
            row[0].plot([i] * len(seeds), seeds, 'k.', ms=5)
        row[0].set_ylabel('average mAP (%), tIoU 0.3:0.1:0.7')
        row[0].set_title(f'{regime}: average mAP per strategy')
        for n in names:
            row[1].errorbar(TIOUS, [100 * m for m in results[n]['mAP']],
                            yerr=[100 * s for s in results[n]['mAP_std']], marker='o',
                            capsize=3, label=n)
        row[1].set_xlabel('tIoU')
        row[1].set_ylabel('mAP (%)')
        row[1].legend(fontsize=7)
        row[1].set_title(f'{regime}: mAP against tIoU')
        row[2].bar(x, [results[n]['peak_mem_mb'] or 0 for n in names], color='tab:orange')
        row[2].set_ylabel('peak training memory (MB)')
        row[2].set_title(f'{regime}: memory (online runs)')
        for ax in row[:1].tolist() + row[2:3].tolist():
            ax.set_xticks(x)
            ax.set_xticklabels(names, rotation=30, ha='right')
        p = paired.get(regime)
        if p is not None:
            diffs = [100 * v for v in p['per_seed'].values()]
            row[3].plot(range(len(diffs)), diffs, 'ko', label='per seed')
            row[3].axhline(100 * p['delta_average_mAP'], color='tab:red', label='mean')
            if p['ci95'] is not None:
                row[3].axhspan(100 * p['ci95'][0], 100 * p['ci95'][1], color='tab:red',
                               alpha=0.2, label='95 % CI')
            row[3].axhline(0, color='k', lw=0.5)
            row[3].set_xticks(range(len(diffs)))
            row[3].set_xticklabels([f'seed {s}' for s in p['per_seed']], rotation=30)
            row[3].legend(fontsize=7)
        row[3].set_ylabel('LoSA − head-only (avg mAP points)')
        row[3].set_title(f'{regime}: paired difference')
    fig.suptitle('synthetic untrimmed-video TAL: head-only vs LoSA vs full fine-tuning')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def plot_gates(regimes: Dict[str, Dict[str, dict]], out_file: str,
               strategy: str = 'losa') -> bool:
    """LoSA's learned gates per adapted layer at the end of training, short- and
    long-range branches, one panel per regime (mean ± std over seeds, seeds as dots).
    Returns False (and writes nothing) when no regime has gates."""
    with_gates = [r for r in regimes if regimes[r].get(strategy, {}).get('gates')]
    if not with_gates:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(with_gates), figsize=(6.5 * len(with_gates), 3.9),
                             squeeze=False)
    for ax, regime in zip(axes[0], with_gates):
        r = regimes[regime][strategy]
        gates, std = r['gates'], r['gates_std']
        for offset, branch in ((-0.2, 'short'), (0.2, 'long')):
            keys = [k for k in gates if k.startswith(branch + '/')]
            if not keys:
                continue
            x = np.arange(len(keys)) + offset
            ax.bar(x, [gates[k] for k in keys], width=0.4, yerr=[std.get(k, 0) for k in keys],
                   capsize=3, label=branch)
            for xi, k in zip(x, keys):
                vals = [s['gates'][k] for s in r['per_seed'] if s.get('gates')]
                ax.plot([xi] * len(vals), vals, 'k.', ms=4)
            ax.set_xticks(np.arange(len(keys)))
            ax.set_xticklabels([k.split('/', 1)[1] for k in keys])
        ax.axhline(0, color='k', lw=0.5)
        ax.set_xlabel('adapted layer (1-based block id)')
        ax.set_ylabel('gate value (zero at init)')
        ax.set_title(f'{regime}: LoSA gates after training')
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return True
