"""Figures of :func:`.error_analysis.analyze_errors` (PNG, matplotlib's Agg canvas;
the global backend is left alone)."""
from typing import Dict, List

import numpy as np

from .false_positive_analysis import FP_TYPES

# DETAD's colours
_FP_COLORS = ['#33a02c', '#b2df8a', '#1f78b4', '#fb9a99', '#e31a1c', '#a6cee3']
_CHAR_COLORS = {'coverage': '#386cb0', 'length': '#f0027f', 'num-instances': '#bf5b17'}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def plot_false_positive(fp: Dict, path: str) -> None:
    """Stacked category shares per G-block (left) and the removal gains (right)."""
    fig = _figure(12, 4.5)
    ax, ax2 = fig.add_subplot(1, 5, (1, 3)), fig.add_subplot(1, 5, (4, 5))
    fig.subplots_adjust(wspace=1.2)
    groups = [g for g in fp['profile'] if g['fractions'] is not None]
    x = np.arange(len(groups))
    bottom = np.zeros(len(groups))
    for name, color in zip(FP_TYPES, _FP_COLORS):
        vals = np.array([100 * g['fractions'][name] for g in groups])
        ax.bar(x, vals, bottom=bottom, color=color, label=name.replace(' Err', ''))
        bottom += vals
    ax.set_xticks(x, [g['group'] for g in groups])
    ax.set_ylim(0, 100)
    ax.set_xlabel('Top predictions (G-blocks of each class ranking)')
    ax.set_ylabel('Error breakdown (%)')
    ax.set_title('False positive profile')
    ax.legend(fontsize=7, ncol=3, loc='upper center', bbox_to_anchor=(0.5, -0.18))
    names = list(fp['removal_gain'])
    gains = [100 * fp['removal_gain'][n] for n in names]
    bars = ax2.bar(np.arange(len(names)), gains, color=_FP_COLORS[1:])
    for b, g in zip(bars, gains):
        ax2.text(b.get_x() + b.get_width() / 2, b.get_height(), f'{g:.1f}', ha='center',
                 va='bottom', fontsize=8)
    ax2.set_xticks(np.arange(len(names)), [n.replace(' Err', '') for n in names],
                   rotation=45, ha='right', fontsize=8)
    ax2.set_ylabel('average-mAP%s gain (%%)' % ('_N' if fp['normalized'] else ''))
    ax2.set_title('Removing error impact')
    fig.savefig(path, bbox_inches='tight', dpi=120)


def _binned_bars(ax, table: Dict[str, Dict[str, Dict]], key: str) -> List[float]:
    pos, ticks, labels, values = 0, [], [], []
    for name, bins in table.items():
        for label, entry in bins.items():
            v = entry[key]
            h = 0.0 if v is None else 100 * v
            ax.bar(pos, h, color=_CHAR_COLORS.get(name, 'gray'))
            ax.text(pos, h, '-' if v is None else f'{h:.1f}', ha='center', va='bottom',
                    fontsize=7)
            ticks.append(pos)
            labels.append(f'{label}\n{name}' if label == list(bins)[0] else label)
            values.append(h)
            pos += 1
        pos += 1
    ax.set_xticks(ticks, labels, fontsize=8)
    return values


def plot_sensitivity(sens: Dict, path: str) -> None:
    """Average mAP_N per bin of each characteristic, the overall value dashed."""
    fig = _figure(10, 4)
    ax = fig.add_subplot(1, 1, 1)
    _binned_bars(ax, {n: c['bins'] for n, c in sens['characteristics'].items()},
                 'average_mAP')
    ax.axhline(100 * sens['average_mAP'], color='k', linestyle='--', linewidth=1)
    ax.set_ylabel('average-mAP%s (%%)' % ('_N' if sens['normalized'] else ''))
    ax.set_ylim(0, 100)
    ax.set_title('Sensitivity to ground-truth characteristics')
    fig.savefig(path, bbox_inches='tight', dpi=120)


def plot_false_negative(fn: Dict, path: str) -> None:
    """False-negative rate per bin of each characteristic."""
    fig = _figure(10, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    _binned_bars(ax, fn['characteristics'], 'fn_rate')
    ax.set_ylabel('False negative (%)')
    ax.set_ylim(0, 110)
    ax.set_title('False negative analysis')
    fig.savefig(path, bbox_inches='tight', dpi=120)
