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
``total_params``, ``metrics`` (the test metrics), ``train_loss`` (each
loss term's mean over the last training epoch), ``gates`` (LoSA gate values, if any),
``checkpoint`` (the last checkpoint written).
"""
import json
import os.path as osp
import sys
import time
from typing import Any, Dict

import torch


def run_spec(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Train (and optionally test) one config as ``spec`` describes; returns the result."""
    torch.set_num_threads(int(spec.get('threads', 1)))
    import losa_plugin  # noqa: F401  (compat shims and registration before mmaction.models)
    from mmengine.config import Config
    from mmengine.runner import Runner

    from ..utils.memory import PeakMemoryMeter

    cfg = Config.fromfile(spec['config'])
    cfg.merge_from_dict(spec.get('overrides', {}))
    cfg.work_dir = spec['work_dir']
    runner = Runner.from_cfg(cfg)
    model = runner.model
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
    if spec.get('test', True):
        metrics = {k: float(v) for k, v in runner.test().items()}
    # Training loss over the last epoch: did a strategy fit the training videos better?
    hub = runner.message_hub
    last_epoch_iters = len(runner.train_dataloader)
    train_loss = {k.split('/', 1)[1]: float(hub.get_scalar(k).mean(last_epoch_iters))
                  for k in hub.log_scalars if k.startswith('train/loss')}
    gates: Dict[str, float] = {}
    neck = getattr(model, 'neck', None)
    if neck is not None and hasattr(neck, 'gate_values'):
        gates = {k: float(v) for k, v in neck.gate_values().items()}
    max_epochs = cfg.train_cfg.get('max_epochs')
    checkpoint = osp.join(cfg.work_dir, f'epoch_{max_epochs}.pth')
    return dict(train_time_s=train_time, peak_mem_mb=meter.peak_mb, learnable_params=learnable,
                total_params=total, metrics=metrics, gates=gates, train_loss=train_loss,
                checkpoint=checkpoint if osp.isfile(checkpoint) else None)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit('usage: python -m losa_plugin.synthetic.benchmark_run SPEC.json')
    with open(argv[0]) as f:
        spec = json.load(f)
    for key in ('config', 'work_dir', 'result'):
        if key not in spec:
            raise SystemExit(f'{argv[0]}: the run spec lacks the key {key!r}')
    result = run_spec(spec)
    with open(spec['result'], 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
