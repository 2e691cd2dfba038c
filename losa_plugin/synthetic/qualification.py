"""Does a regime satisfy LoSA's premise? Checks that use no LoSA.

LoSA can only help where some intermediate layer holds what the TAL head needs and the
last layer lacks. docs/synthetic_benchmark.md ("The invariant regime") fixes three checks
before any LoSA run on a regime:

1. a linear probe **on the TAL classes** per block of the pretrained backbone (trimmed
   clips of the TAL classes in the TAL videos' look, a set of their own): the best
   intermediate block ``K*`` beats the last block by at least :data:`PROBE_MARGIN`;
2. head-only on block ``K*`` beats head-only on ``F_N`` (paired interval above 0);
3. full fine-tuning beats head-only (paired interval above 0).

``K*`` is chosen on the probe's val clips, never on the TAL test videos.
"""
from typing import Dict, Optional, Sequence

from .benchmark_report import paired_average_map

#: the probe's pooling used for the checks: spatial mean per temporal step, the order in
#: time kept (``[T_i x C]``), as the TAL head sees a layer
PROBE_POOLING = 'grid'
#: how far (accuracy, fraction) ``K*`` must beat the last block
PROBE_MARGIN = 0.10
#: trimmed TAL-class clips per class for the probe (the last 20 % of each are its val)
PROBE_CLIPS_PER_CLASS = 200


def probe_by_block(probe: Dict[str, float], pooling: str = PROBE_POOLING) -> Dict[str, float]:
    """``{'layer<id>/<pooling>': acc, 'last_pooled/<pooling>': acc, ...}`` ->
    ``{'<id>': acc, ..., 'F_N': acc}`` for one pooling (JSON keys are strings)."""
    out = {}
    for key, acc in probe.items():
        name, _, kind = key.partition('/')
        if kind != pooling:
            continue
        if name.startswith('layer'):
            out[name[len('layer'):]] = float(acc)
        elif name == 'last_pooled':
            out['F_N'] = float(acc)
    return out


def best_block(by_block: Dict[str, float]) -> int:
    """The intermediate block with the highest probe accuracy (ties: the deeper one).

    Args:
        by_block: :func:`probe_by_block`'s output; the block with the largest id is the
            last layer and never chosen, ``'F_N'`` is ignored.

    Returns:
        int: the block id ``K*``.
    """
    blocks = sorted(int(k) for k in by_block if k != 'F_N')
    if len(blocks) < 2:
        raise ValueError(f'best_block: need an intermediate and a last block, got '
                         f'{sorted(by_block)}')
    return max(blocks[:-1], key=lambda b: (by_block[str(b)], b))


def probe_check(by_block: Dict[str, float], margin: float = PROBE_MARGIN) -> dict:
    """Check 1: ``K*``'s accuracy against the last block's (the higher of its raw pooling
    and ``F_N``'s), ``passes`` when it exceeds that bar by ``margin``."""
    k = best_block(by_block)
    last = max(int(b) for b in by_block if b != 'F_N')
    bar = max(by_block[str(last)], by_block.get('F_N', float('-inf')))
    gap = by_block[str(k)] - bar
    return dict(block=k, last_block=last, best_accuracy=by_block[str(k)],
                last_accuracy=bar, margin=gap, required_margin=margin,
                passes=bool(gap >= margin))


def _interval_check(paired: Optional[dict]) -> Optional[dict]:
    """``{"delta_average_mAP", "ci95", "n", "per_seed", "passes"}``: passes when the
    interval lies above 0 (None when a strategy is missing)."""
    if paired is None:
        return None
    ci = paired['ci95']
    return dict(delta_average_mAP=paired['delta_average_mAP'], ci95=ci, n=paired['n'],
                per_seed=paired['per_seed'], passes=bool(ci is not None and ci[0] > 0))


def qualification(results: Dict[str, dict], probe: Optional[Dict[str, float]],
                  block: Optional[int], best_block_name: str = 'head_only_best_block',
                  margin: float = PROBE_MARGIN) -> dict:
    """The ``qualification`` block of one regime in ``results.json``.

    Args:
        results: ``{strategy: summarize_runs(...)}`` of the regime (``head_only``,
            ``best_block_name``, ``full_ft`` when run).
        probe: the TAL-class probe, ``{'layer<id>/grid': acc, ...}`` (None: not run).
        block: ``K*`` the best-block runs read.
        best_block_name: the strategy name of head-only on ``K*``.
        margin: check 1's margin.

    Returns:
        ``{"probe": {block: acc}, "probe_check": {...}, "head_only_best_block":
        {"block", "delta_average_mAP", "ci95", "n", "per_seed", "passes"},
        "full_ft": {...}, "premise_holds": bool}`` (a check not run is None, and then
        ``premise_holds`` is False).
    """
    by_block = probe_by_block(probe) if probe else None
    check1 = probe_check(by_block, margin) if by_block else None
    check2 = _interval_check(paired_average_map(results, best_block_name, 'head_only'))
    if check2 is not None:
        check2 = dict(block=block, **check2)
    check3 = _interval_check(paired_average_map(results, 'full_ft', 'head_only'))
    checks: Sequence[Optional[dict]] = (check1, check2, check3)
    return dict(probe=by_block, probe_check=check1, head_only_best_block=check2,
                full_ft=check3,
                premise_holds=all(c is not None and c['passes'] for c in checks))
