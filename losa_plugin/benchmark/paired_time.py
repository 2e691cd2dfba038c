"""Step times of several models measured interleaved in one process.

On a machine shared with other jobs a step's wall time changes with the load from one
minute to the next, so times measured in separate processes minutes apart (the memory
runs of ``tools/benchmark.py``, one fresh process per row) do not compare. Here every
model runs one training step per round, in alternating order (A B, B A, ...), on the same
window; a model's ratio to the first is the median over rounds of its step time over the
first model's in the same round, so a load change between rounds cancels out.
"""
import statistics
from typing import Dict, List, Sequence, Tuple

from torch import nn

from .throughput import load_average
from .train_step import measure_train_step

TIMES = ('step_time_s', 'forward_s', 'backward_s')


def paired_step_times(models: Sequence[Tuple[str, nn.Module]], frames: int, height: int,
                      width: int, num_classes: int, rounds: int = 3,
                      device: str = 'cpu') -> Dict:
    """Interleaved training steps (forward + backward + AdamW step, batch 1).

    Args:
        models: ``(name, built TALDetector)`` pairs; the first is the reference.
        frames (int): window length ``F``.
        height (int): frame height.
        width (int): frame width.
        num_classes (int): the heads' classes (ground truth labels).
        rounds (int): steps per model. Defaults to 3.
        device (str): Defaults to ``'cpu'``.

    Returns:
        dict: ``models`` (per name: the median ``step_time_s`` / ``forward_s`` /
        ``backward_s``, ``rounds`` with each round's times, and ``<time>_vs_first``, the
        median over rounds of the per-round ratio), ``reference``, ``rounds``,
        ``load_before`` / ``load_after``.
    """
    if not models or rounds < 1:
        raise ValueError(f'paired_step_times: need models and rounds >= 1, got '
                         f'{len(models)} models, {rounds} rounds')
    load_before = load_average()
    per_round: Dict[str, List[Dict]] = {name: [] for name, _ in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for name, model in order:
            res = measure_train_step(model, frames, height, width, num_classes,
                                     device=device, warmup=r == 0)
            per_round[name].append({k: res[k] for k in TIMES})
    ref = models[0][0]
    out = {}
    for name, rows in per_round.items():
        item = {k: statistics.median(row[k] for row in rows) for k in TIMES}
        for k in TIMES:
            item[f'{k}_vs_first'] = statistics.median(
                row[k] / base[k] for row, base in zip(rows, per_round[ref]))
        item['rounds'] = rows
        out[name] = item
    return dict(models=out, reference=ref, rounds=rounds, load_before=load_before,
                load_after=load_average())


def format_paired(result: Dict) -> str:
    """One line per model: median times and the paired ratio to the reference."""
    lines = [f'step times, {result["rounds"]} interleaved rounds in one process '
             f'(ratios: median of per-round ratios to {result["reference"]}):']
    for name, item in result['models'].items():
        lines.append(f'  {name}: step {item["step_time_s"]:.1f} s (forward '
                     f'{item["forward_s"]:.1f}, backward {item["backward_s"]:.1f}) -> '
                     f'x{item["step_time_s_vs_first"]:.2f} (forward '
                     f'x{item["forward_s_vs_first"]:.2f}, backward '
                     f'x{item["backward_s_vs_first"]:.2f})')
    lb, la = result['load_before']['loadavg'], result['load_after']['loadavg']
    lines.append(f'  load average (1 / 5 / 15 min): before {lb[0]:.2f} / {lb[1]:.2f} / '
                 f'{lb[2]:.2f}, after {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}')
    return '\n'.join(lines) + '\n'
