"""Ratios between the rows of one benchmark run at the same window and resolution.

For every LoSA row in a memory mode other than the default (``recompute``, ``stream``,
``bf16``, ``pool*``...), its measured peak (growth above the model) against the default
LoSA row's, the streaming row's, head-only's and AdaTAD's where the run has them, and its
step time (forward, backward) against the default LoSA row's. Ratios within one run
compare like with like: the same machine load for the step times (which depend on it),
while the peaks do not.
"""
from typing import Dict, List, Optional, Sequence

#: reference rows: name -> (strategy, mode or None for any mode)
REFERENCES = {'default': ('losa', 'default'), 'stream': ('losa', 'stream'),
              'head_only': ('head_only', None), 'adatad': ('adatad', None)}
TIMES = {'step': 'step_time_s', 'forward': 'forward_s', 'backward': 'backward_s'}


def _group_key(row: Dict) -> tuple:
    return row['frames'], row.get('height'), row.get('width'), row.get('backbone')


def _find(rows: Sequence[Dict], strategy: str, mode: Optional[str]) -> Optional[Dict]:
    for r in rows:
        if r['strategy'] == strategy and (mode is None or r.get('mode') == mode) \
                and r.get('peak_mem_mb') is not None:
            return r
    return None


def mode_ratios(rows: Sequence[Dict]) -> List[Dict]:
    """One dict per non-default LoSA row with a measured peak: ``mode``, ``frames``,
    ``height``, ``peak_vs_<ref>`` for each reference row present and
    ``step_vs_default``, ``forward_vs_default``, ``backward_vs_default``."""
    groups: Dict[tuple, List[Dict]] = {}
    for r in rows:
        groups.setdefault(_group_key(r), []).append(r)
    out = []
    for group in groups.values():
        refs = {name: _find(group, *ref) for name, ref in REFERENCES.items()}
        for r in group:
            if r['strategy'] != 'losa' or r.get('mode') == 'default' \
                    or r.get('peak_mem_mb') is None:
                continue
            item = dict(mode=r.get('mode'), frames=r['frames'], height=r.get('height'))
            for name, ref in refs.items():
                if ref is not None and ref is not r:
                    item[f'peak_vs_{name}'] = r['peak_mem_mb'] / ref['peak_mem_mb']
            default = refs['default']
            if default is not None:
                for name, key in TIMES.items():
                    if r.get(key) is not None and default.get(key):
                        item[f'{name}_vs_default'] = r[key] / default[key]
            out.append(item)
    return out


def format_ratios(ratios: Sequence[Dict]) -> str:
    """The ratios as text lines, one per mode row."""
    lines = []
    for item in ratios:
        parts = [f'{k[len("peak_vs_"):]} x{v:.2f}' for k, v in item.items()
                 if k.startswith('peak_vs_')]
        text = (f'{item["mode"]} at {item["frames"]} frames, {item["height"]} px: peak vs '
                + (', '.join(parts) or '-'))
        if 'step_vs_default' in item:
            text += (f'; step time vs default x{item["step_vs_default"]:.2f} (forward '
                     f'x{item.get("forward_vs_default", float("nan")):.2f}, backward '
                     f'x{item.get("backward_vs_default", float("nan")):.2f})')
        lines.append(text)
    return '\n'.join(lines) + ('\n' if lines else '')
