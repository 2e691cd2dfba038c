"""One run of the synthetic benchmark in this process: train a config, then test it.

The benchmark (:mod:`losa_plugin.synthetic.benchmark`) starts every run in a fresh
process, so that the peak-memory figure of one strategy is not lowered by memory an
earlier run left cached in the allocator, nor raised by its leftovers::

    python -m losa_plugin.synthetic.benchmark_run SPEC.json

``SPEC.json`` holds ``config`` (path), ``work_dir``, ``overrides`` (dotted keys ->
values, applied with ``Config.merge_from_dict``), ``threads`` (torch threads),
``test`` (bool: run the test loop after training) and ``result`` (where the result JSON
goes). The result: ``train_time_s``, ``peak_mem_mb`` (:class:`PeakMemoryMeter` around
``runner.train()``: the growth of the peak RSS over the RSS after the model was built,
i.e. activations, gradients, optimizer state and the data in flight), ``learnable_params``,
``total_params``, ``metrics`` (the test metrics), ``metrics_gates_off`` (for a LoSA
neck with learned gates: the test metrics of the trained model with every gate set to
zero, i.e. without the adapters' contribution), ``adapter_share`` (for a LoSA neck,
RMS ratios of the adapters' output to the last layer's features on the test set, see
:class:`AdapterShare`), ``train_loss`` (each
loss term's mean over the last training epoch), ``gates`` (LoSA gate values, if any),
``checkpoint`` (the last checkpoint written), ``val_history`` (the validation metrics
after each validated epoch: the pretraining curve) and, with ``tap_cache``
(``dict(root, mode)``, see :class:`ClipTapCache`), ``tap_cache`` (hits and misses).

A spec with ``kind='generate'`` writes a synthetic data set instead
(``what``: ``'untrimmed'`` or ``'trimmed'``, ``out_dir``, ``num``, ``seed``, ``cfg``:
:class:`SyntheticConfig` fields), so the benchmark can generate the sets of two regimes
on two cores at once.
"""
import json
import os.path as osp
import sys
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

import torch
from mmengine.hooks import Hook


def _learned_gates(neck) -> List[torch.nn.Parameter]:
    """The LoSA fusion's learnable gate vectors (none for other necks, ``'add'`` fusion
    or cosine gates)."""
    fusion = getattr(neck, 'fusion', None)
    return [g for g in (getattr(fusion, 'gates_short', None), getattr(fusion, 'gates_long', None))
            if isinstance(g, torch.nn.Parameter)]


@contextmanager
def _gates_zeroed(neck) -> Iterator[None]:
    """Set every learned gate to zero inside the block, restore them after."""
    gates = _learned_gates(neck)
    saved = [g.detach().clone() for g in gates]
    try:
        with torch.no_grad():
            for g in gates:
                g.zero_()
        yield
    finally:
        with torch.no_grad():
            for g, value in zip(gates, saved):
                g.copy_(value)


class AdapterShare:
    """How large the adapters' contribution is next to the last layer's features.

    A forward hook on a LoSA neck's fusion accumulates, over every call, the squared
    norms of ``F_N`` and, per branch, of the gated sum ``sum_i p_i * F_i`` that is added
    to it, and of each ungated adapter output. :meth:`result` gives the RMS ratios
    ``{'short': |sum_i p_i FS_i| / |F_N|, ..., 'short/layer1': |FS_1| / |F_N|, ...}``:
    a near-zero gated ratio means the head sees (almost) the head-only features.
    """

    def __init__(self, neck) -> None:
        self.fusion = getattr(neck, 'fusion', None)
        self.names = list(getattr(neck, 'adapter_names', []))
        self.sq: Dict[str, float] = {}
        self._handle = None

    def __enter__(self) -> 'AdapterShare':
        if self.fusion is not None:
            self._handle = self.fusion.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()

    def _add(self, key: str, x: torch.Tensor) -> None:
        self.sq[key] = self.sq.get(key, 0.0) + float(x.detach().float().pow(2).sum())

    @torch.no_grad()
    def _hook(self, fusion, args, output) -> None:
        f_last, short, long = args[:3]
        mask = args[3] if len(args) > 3 else None
        self._add('F_N', f_last)
        for branch, feats in (('short', short), ('long', long)):
            if not feats:
                continue
            self._add(branch, fusion.gated_sum(branch, feats, f_last, mask))
            for name, f in zip(self.names, feats):
                self._add(f'{branch}/{name}', f)

    def result(self) -> Dict[str, float]:
        base = self.sq.get('F_N', 0.0)
        if base <= 0:
            return {}
        return {k: (v / base) ** 0.5 for k, v in self.sq.items() if k != 'F_N'}


class ValHistory(Hook):
    """Records the validation metrics after every validated epoch.

    Attributes:
        history (list[dict]): ``{'epoch': e, <metric>: value, ...}`` in order.
    """

    def __init__(self) -> None:
        self.history: List[Dict[str, float]] = []

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        row = {'epoch': int(runner.epoch)}
        row.update({k: float(v) for k, v in (metrics or {}).items()})
        self.history.append(row)


def generate(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Write one synthetic set as a ``kind='generate'`` spec describes."""
    from .config import SyntheticConfig
    from .trimmed import generate_trimmed
    from .untrimmed import generate_untrimmed
    cfg = SyntheticConfig.from_dict(spec['cfg'])
    t0 = time.perf_counter()
    if spec['what'] == 'untrimmed':
        generate_untrimmed(spec['out_dir'], int(spec['num']), int(spec['seed']), cfg)
    elif spec['what'] == 'trimmed':
        generate_trimmed(spec['out_dir'], int(spec['num']), int(spec['seed']), cfg)
    else:
        raise ValueError(f"generate spec: 'what' must be 'untrimmed' or 'trimmed', got "
                         f"{spec['what']!r}")
    return dict(time_s=time.perf_counter() - t0)


def run_spec(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Train (and optionally test) one config as ``spec`` describes; returns the result."""
    torch.set_num_threads(int(spec.get('threads', 1)))
    if spec.get('kind', 'train') == 'generate':
        return generate(spec)
    import losa_plugin  # noqa: F401  (compat shims and registration before mmaction.models)
    from mmengine.config import Config
    from mmengine.runner import Runner

    from ..engine import use_param_summary_constructor
    from ..utils.memory import PeakMemoryMeter
    from .clip_tap_cache import ClipTapCache

    cfg = Config.fromfile(spec['config'])
    cfg.merge_from_dict(spec.get('overrides', {}))
    use_param_summary_constructor(cfg)  # the same optimizer, one log line per run
    cfg.work_dir = spec['work_dir']
    runner = Runner.from_cfg(cfg)
    val_history = ValHistory()
    runner.register_hook(val_history, priority='LOW')
    model = runner.model
    cache = None
    if spec.get('tap_cache'):
        cache = ClipTapCache(model.backbone, spec['tap_cache']['root'],
                             spec['tap_cache'].get('mode', 'read')).install()
    learnable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())

    t0 = time.perf_counter()
    with PeakMemoryMeter() as meter:
        runner.train()
    train_time = time.perf_counter() - t0
    # Frozen parameters stay frozen through train(); count again after the init so a
    # backbone that unfroze itself would show up.
    learnable = max(learnable, sum(p.numel() for p in model.parameters() if p.requires_grad))

    metrics: Dict[str, float] = {}
    metrics_gates_off: Dict[str, float] = {}
    adapter_share: Dict[str, float] = {}
    neck = getattr(model, 'neck', None)
    if spec.get('test', True):
        if _learned_gates(neck):
            # First (the detections file keeps the normal test's output): how much of the
            # result comes from the adapters? The trained model with every gate at zero.
            with _gates_zeroed(neck):
                metrics_gates_off = {k: float(v) for k, v in runner.test().items()}
        with AdapterShare(neck) as share:
            metrics = {k: float(v) for k, v in runner.test().items()}
        adapter_share = share.result()
    # Training loss over the last epoch: did a strategy fit the training videos better?
    hub = runner.message_hub
    last_epoch_iters = len(runner.train_dataloader)
    train_loss = {k.split('/', 1)[1]: float(hub.get_scalar(k).mean(last_epoch_iters))
                  for k in hub.log_scalars if k.startswith('train/loss')}
    gates: Dict[str, float] = {}
    if neck is not None and hasattr(neck, 'gate_values'):
        gates = {k: float(v) for k, v in neck.gate_values().items()}
    max_epochs = cfg.train_cfg.get('max_epochs')
    checkpoint = osp.join(cfg.work_dir, f'epoch_{max_epochs}.pth')
    return dict(train_time_s=train_time, peak_mem_mb=meter.peak_mb, learnable_params=learnable,
                total_params=total, metrics=metrics, metrics_gates_off=metrics_gates_off,
                gates=gates, adapter_share=adapter_share, train_loss=train_loss,
                val_history=val_history.history,
                tap_cache=cache.stats() if cache is not None else None,
                checkpoint=checkpoint if osp.isfile(checkpoint) else None)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit('usage: python -m losa_plugin.synthetic.benchmark_run SPEC.json')
    with open(argv[0]) as f:
        spec = json.load(f)
    required = (('out_dir', 'what', 'num', 'seed', 'cfg', 'result')
                if spec.get('kind') == 'generate' else ('config', 'work_dir', 'result'))
    for key in required:
        if key not in spec:
            raise SystemExit(f'{argv[0]}: the run spec lacks the key {key!r}')
    result = run_spec(spec)
    with open(spec['result'], 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
