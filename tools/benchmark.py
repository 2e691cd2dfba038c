"""Training memory and speed of head-only / LoSA / full fine-tuning, and an estimate.

    python tools/benchmark.py CONFIG [CONFIG ...] [--frames F ...]
        [--strategies head_only losa full_ft] [--size S] --json OUT.json
        [--plot OUT.png] [--estimate] [--no-run] [--attention] [--tap-cache]
    python tools/benchmark.py --throughput [CONFIG] [--variants fp32 bf16 ...]
        [--size S] [--throughput-clips N] [--repeats R] [--threads T] [--profile]

Measurement (default): for every config x strategy x window length ``F``, one training
step (forward + backward + AdamW step) on a random window ``[1, 3, F, S, S]`` with
random ground truth, **each in a fresh subprocess**. Peak memory is the growth above the
built model and the input window (CUDA max-allocated on GPU, peak RSS on CPU, see
``losa_plugin/utils/memory.py``); ``peak_total_mb`` adds the weights.

* Strategies: without ``--strategies`` each config is measured as it is and its
  strategy is read from it (``configs/losa/*``, ``configs/baselines/*``). With
  ``--strategies`` each config must be a LoSA config and the other strategies are
  derived from it (``losa_plugin/benchmark/strategies.py``: head-only =
  ``LastLayerNeck`` + last tap only; full FT = unfrozen with per-block checkpointing,
  as ``configs/baselines/full-ft_*``; ``st_adapter``, ``aim``, ``unipt``, ``adatad`` =
  the model delta of ``configs/baselines/{method}_*``, see docs/baselines.md). Several
  LoSA configs in one run (e.g. the default and ``*_recompute``) may derive the same
  model for a strategy; each distinct model is measured once.
* After the table: each LoSA memory mode's peak against the default LoSA, streaming,
  head-only and AdaTAD rows of the same run, and its step time against the default's
  (``losa_plugin/benchmark/mode_ratios.py``; in the JSON as ``ratios``).
* ``--paired-time R``: the step times of the run's models (at the first ``--frames``),
  measured in one further process, interleaved over ``R`` rounds; each model's ratio to
  the first is the median of its per-round ratios, so the load of a shared machine
  cancels out (``losa_plugin/benchmark/paired_time.py``; JSON ``paired_time``). With
  ``--estimate --no-run`` only the paired timing runs.
* ``--estimate`` adds the analytic estimate to each row (``est_step_growth_mb``, the
  measured quantity, and ``est_peak_mb``, the steady-state total);
  ``--no-run`` skips the measurement (any scale, e.g. ViT-g at 1152 frames of 224²).
* ``--attention``: plain vs fused attention of a ViT-B (frozen-forward clips/s, and the
  peak of a full-FT step with each path), ``--attention-frames`` x ``--size``,
  ``--attention-clips`` clips, fp32.
* ``--tap-cache``: epochs of LoSA training over ``--cache-windows`` random windows of
  ``--frames`` (first value) frames, online vs from the tap cache (the first epoch fills
  it), seconds per epoch (the configs are then only used for this).
* ``--throughput``: the frozen backbone's forward (a ViT-B shape, or the first
  CONFIG's ``model.backbone``) in clips/s and GFLOP/s for each ``--variants`` (fp32,
  bf16 native, bf16 under autocast, bf16 with torch.compile), as a fraction of the
  matmul peak of its dtype measured in the same run, interleaved, median over
  ``--repeats`` rounds (``losa_plugin/benchmark/throughput.py``); the load average
  before / after; ``--profile`` adds each variant's time by op category.

The JSON holds ``{"rows": [...], "attention": {...}, "tap_cache": {...},
"throughput": {...}}``; each row has
``strategy, backbone, frames, peak_mem_mb, step_time_s, forward_s, backward_s,
learnable_params, total_params`` and more.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from losa_plugin.benchmark.strategies import STRATEGIES  # noqa: E402

ROW_KEYS = ('strategy', 'backbone', 'frames', 'peak_mem_mb', 'step_time_s', 'forward_s',
            'backward_s', 'learnable_params', 'total_params')


# --------------------------------------------------------------------------- helpers
def load_model_cfg(config: str, strategy, cfg_options=None):
    """``(cfg, model_cfg, strategy)`` of a config, derived to ``strategy`` when given."""
    import losa_plugin  # noqa: F401
    from mmengine.config import Config
    from losa_plugin.benchmark.strategies import derive_strategy_cfg, infer_strategy
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    if strategy is None:
        strategy = infer_strategy(model_cfg)
    else:
        if infer_strategy(model_cfg) != 'losa':
            raise ValueError(f'{config}: --strategies derives strategies from a LoSA config '
                             f'(LoSANeck, frozen backbone); this one is '
                             f'{infer_strategy(model_cfg)}. Drop --strategies to measure it '
                             'as it is.')
        model_cfg = derive_strategy_cfg(model_cfg, strategy)
    return cfg, model_cfg, strategy


def describe(model_cfg, size: int) -> dict:
    """Backbone label and memory mode of a model config."""
    from losa_plugin.benchmark.strategies import _inner_backbone
    bb = _inner_backbone(model_cfg)
    vit = bb.get('vit')
    if vit is not None:
        label = f"ViT(C={vit.get('embed_dims')},depth={vit.get('depth')})"
    else:
        label = str(bb.get('type'))
    label += f'@{size}px'
    outer = model_cfg['backbone']
    if outer.get('type') == 'CachedLayerTap':
        mode = 'tap-cache'
    elif bb.get('tap_recompute'):
        mode = 'recompute' + (f"+{bb['dtype']}" if bb.get('dtype') else '')
    elif bb.get('tap_reduce') == 'spatial_pool':
        mode = f"pool{bb.get('tap_pool_size', 4)}"
    elif bb.get('tap_reduce'):
        mode = 'stream'
    elif bb.get('dtype'):
        mode = str(bb.get('dtype'))
    else:
        mode = 'default'
    return dict(backbone=label, mode=mode)


def default_size(model_cfg) -> int:
    from losa_plugin.benchmark.strategies import _inner_backbone
    vit = _inner_backbone(model_cfg).get('vit') or {}
    return int(vit.get('img_size', 224))


# glibc keeps freed heap memory resident and raises its mmap threshold after each large
# free, so a later allocation can reuse memory the RSS meter already counted at entry.
# A fixed, low mmap threshold returns every freed tensor to the OS at once: the RSS then
# follows the live tensors (CPU only; harmless elsewhere).
MALLOC_ENV = dict(MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='131072',
                  MALLOC_TOP_PAD_='0')


def run_child(spec: dict, timeout: float = 3600) -> dict:
    cmd = [sys.executable, osp.abspath(__file__), '--child', json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **MALLOC_ENV))
    if proc.returncode != 0:
        raise RuntimeError(f'benchmark child failed ({spec}):\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_model(model_cfg, seed: int = 0):
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


# --------------------------------------------------------------------------- children
def child_step(spec: dict) -> dict:
    from losa_plugin.benchmark.train_step import measure_train_step
    cfg, model_cfg, strategy = load_model_cfg(spec['config'], spec['strategy'])
    cache_dir = None
    if model_cfg['backbone'].get('type') == 'CachedLayerTap':
        # a fresh cache: the step measured is the first epoch's (backbone + write)
        cache_dir = model_cfg['backbone']['cache_dir'] = tempfile.mkdtemp(prefix='tapcache_')
    try:
        model = build_model(model_cfg)
        return measure_train_step(model, spec['frames'], spec['size'], spec['size'],
                                  model.head.num_classes, device=spec.get('device'))
    finally:
        if cache_dir is not None:
            shutil.rmtree(cache_dir, ignore_errors=True)


def child_paired(spec: dict) -> dict:
    """Interleaved step times of several (config, strategy) models in this process."""
    from losa_plugin.benchmark.paired_time import paired_step_times
    models = []
    for config, strategy, name in spec['models']:
        _, model_cfg, _ = load_model_cfg(config, strategy)
        models.append((name, build_model(model_cfg)))
    return paired_step_times(models, spec['frames'], spec['size'], spec['size'],
                             models[0][1].head.num_classes, rounds=spec['rounds'],
                             device=spec.get('device') or 'cpu')


def child_attention(spec: dict) -> float:
    """Frozen-forward clips/s, or the full-FT step peak MiB, of one attention path."""
    from losa_plugin.utils.memory import PeakMemoryMeter
    import losa_plugin  # noqa: F401
    from mmaction.registry import MODELS
    s, f, clips, device = spec['size'], spec['frames'], spec['clips'], spec['device']
    vit = dict(type='VisionTransformer', img_size=s, patch_size=16, embed_dims=768, depth=12,
               num_heads=12, mlp_ratio=4, qkv_bias=True, num_frames=f, tubelet_size=2)
    frozen = spec['kind'] == 'speed'
    torch.manual_seed(0)
    model = MODELS.build(dict(type='LayerTapViT', vit=vit, clip_len=f, clip_batch=clips,
                              frozen=frozen, fused_attention=spec['fused'],
                              tap_layers=[-1])).to(device)
    frames = torch.randn(1, 3, clips * f, s, s, device=device)
    if frozen:
        model(frames)  # warm-up
        t0 = time.perf_counter()
        for _ in range(spec['repeats']):
            model(frames)
        if device == 'cuda':
            torch.cuda.synchronize()
        return spec['repeats'] * clips / (time.perf_counter() - t0)
    model.train()
    with PeakMemoryMeter(device) as meter:
        model(frames).feats[-1].float().square().mean().backward()
    return meter.peak_mb


def child_tap_cache(spec: dict) -> dict:
    """Seconds per epoch: online LoSA vs LoSA with the tap cache (epoch 1 fills it)."""
    from losa_plugin.benchmark.train_step import grid_length, random_window
    import losa_plugin.models.backbones.tap_cache  # noqa: F401
    cfg, model_cfg, _ = load_model_cfg(spec['config'], None)
    if model_cfg['backbone'].get('type') == 'CachedLayerTap':
        online_cfg = dict(model_cfg, backbone=model_cfg['backbone']['backbone'])
    else:
        online_cfg = model_cfg
    cache_dir = tempfile.mkdtemp(prefix='tapcache_')
    cached_cfg = dict(online_cfg, backbone=dict(type='CachedLayerTap',
                                                backbone=online_cfg['backbone'],
                                                cache_dir=cache_dir))
    size, frames, windows, epochs = spec['size'], spec['frames'], spec['windows'], spec['epochs']

    def epochs_time(model) -> list:
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        data = [model.data_preprocessor(
            random_window(frames, size, size, model.head.num_classes,
                          grid_length(model, frames), seed=w), training=True)
            for w in range(windows)]
        times = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            for batch in data:
                loss, _ = model.parse_losses(model(**batch, mode='loss'))
                loss.backward()
                opt.step()
                opt.zero_grad()
            times.append(time.perf_counter() - t0)
        return times

    try:
        online = epochs_time(build_model(online_cfg))
        cached_model = build_model(cached_cfg)
        cached = epochs_time(cached_model)
        cache_mb = sum(osp.getsize(osp.join(cache_dir, n)) for n in os.listdir(cache_dir)) / 2**20
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    later = cached[1:] or cached
    online_mean = sum(online) / len(online)
    return dict(config=spec['config'], frames=frames, size=size, windows=windows,
                epochs=epochs, online_epoch_s=online, cached_epoch_s=cached,
                speedup_after_first=online_mean / (sum(later) / len(later)),
                first_epoch_overhead=cached[0] / online_mean, cache_mb=cache_mb,
                hits=cached_model.backbone.hits, misses=cached_model.backbone.misses)


# --------------------------------------------------------------------------- output
def print_table(rows) -> None:
    head = (f'{"strategy":<13}{"mode":<16}{"backbone":<28}{"frames":>7}{"peak MiB":>10}'
            f'{"+weights":>10}{"est MiB":>9}{"step s":>8}{"fwd s":>7}{"bwd s":>7}'
            f'{"learnable":>15}{"total":>15}')
    lines = [head, '-' * len(head)]
    for r in rows:
        def fmt(key, spec):
            v = r.get(key)
            if isinstance(v, (int, float)):
                return format(v, spec)
            return format('-', '>' + spec.split('.')[0].lstrip('>'))
        lines.append(f'{r["strategy"]:<13}{r.get("mode", ""):<16}{r["backbone"]:<28}'
                     f'{r["frames"]:>7}{fmt("peak_mem_mb", ">10.0f")}'
                     f'{fmt("peak_total_mb", ">10.0f")}{fmt("est_step_growth_mb", ">9.0f")}'
                     f'{fmt("step_time_s", ">8.2f")}{fmt("forward_s", ">7.2f")}'
                     f'{fmt("backward_s", ">7.2f")}{r["learnable_params"]:>15,}'
                     f'{r["total_params"]:>15,}')
    sys.stdout.write('\n'.join(lines) + '\n')


def plot(rows, out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    series = {}
    for r in rows:
        key = f'{r["strategy"]} ({r.get("mode", "default")})'
        value = r.get('peak_mem_mb')
        if value is None:
            value, key = r.get('est_step_growth_mb'), key + ' est.'
        series.setdefault(key, []).append((r['frames'], value))
    for key, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker='o', label=key)
    ax.set_xlabel('window length (frames)')
    ax.set_ylabel('peak training memory above the model (MiB)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*')
    parser.add_argument('--frames', type=int, nargs='+', default=[64])
    parser.add_argument('--strategies', nargs='+', default=None,
                        choices=list(STRATEGIES))
    parser.add_argument('--size', type=int, default=None,
                        help='frame height = width (default: the config\'s img_size)')
    parser.add_argument('--json', required=False)
    parser.add_argument('--plot', default=None)
    parser.add_argument('--estimate', action='store_true')
    parser.add_argument('--no-run', action='store_true', help='estimate only')
    parser.add_argument('--paired-time', type=int, default=0, metavar='R',
                        help='also time the models interleaved in one process, R rounds')
    parser.add_argument('--attention', action='store_true')
    parser.add_argument('--attention-frames', type=int, default=16)
    parser.add_argument('--attention-clips', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--tap-cache', action='store_true')
    parser.add_argument('--cache-windows', type=int, default=3)
    parser.add_argument('--cache-epochs', type=int, default=3)
    parser.add_argument('--throughput', action='store_true')
    parser.add_argument('--variants', nargs='+', default=['fp32', 'bf16-autocast', 'bf16'],
                        help='--throughput variants: fp32 bf16 bf16-autocast bf16-compile '
                        'bf16-compile-freezing')
    parser.add_argument('--throughput-clips', type=int, default=None,
                        help='clips per forward (default: the backbone\'s clip_batch)')
    parser.add_argument('--matmul-n', type=int, default=4096)
    parser.add_argument('--min-seconds', type=float, default=1.0,
                        help='--throughput: repeat each timed call for at least this long')
    parser.add_argument('--profile', action='store_true',
                        help='--throughput: profile one forward per variant')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.child is not None:
        spec = json.loads(args.child)
        torch.set_num_threads(spec.get('threads', 1))
        fn = dict(step=child_step, attention=child_attention, tap_cache=child_tap_cache,
                  paired=child_paired)[spec['task']]
        sys.stdout.write(json.dumps(fn(spec)) + '\n')
        return

    if args.throughput:  # in-process: interleaved matmul peaks and frozen forwards
        from losa_plugin.benchmark.throughput import format_table, throughput_report
        result = dict(device=args.device, threads=args.threads, throughput=throughput_report(
            (args.configs or [None])[0], args.variants, size=args.size,
            clips=args.throughput_clips, repeats=args.repeats, matmul_n=args.matmul_n,
            device=args.device, profile=args.profile, min_seconds=args.min_seconds,
            progress=lambda m: sys.stderr.write(m + '\n')))
        sys.stdout.write(format_table(result['throughput']))
        if args.json:
            os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
            with open(args.json, 'w') as f:
                json.dump(result, f, indent=1)
        return
    if not (args.configs or args.attention):
        parser.error('give at least one CONFIG, or --attention, or --throughput')
    if args.no_run and not args.estimate:
        parser.error('--no-run needs --estimate')
    result = dict(device=args.device, threads=args.threads, rows=[])
    from losa_plugin.benchmark.memory_estimate import estimate_memory
    from losa_plugin.benchmark.mode_ratios import format_ratios, mode_ratios
    seen = set()  # a model derived alike from two configs is measured once
    paired = []  # (config, strategy, name) of each distinct model, for --paired-time
    # with --tap-cache the configs name what to cache, not rows to measure
    for config in ([] if args.tap_cache else args.configs):
        for strategy in (args.strategies or [None]):
            _, model_cfg, strat = load_model_cfg(config, strategy)
            size = args.size or default_size(model_cfg)
            key = json.dumps(model_cfg, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            info = describe(model_cfg, size)
            paired.append((config, strategy, f'{strat} ({info["mode"]})'))
            for frames in args.frames:
                row = dict(strategy=strat, config=config, frames=frames, height=size,
                           width=size, device=args.device, **info)
                if not args.no_run:
                    row.update(run_child(dict(task='step', config=config, strategy=strategy,
                                              frames=frames, size=size, device=args.device,
                                              threads=args.threads)))
                    row['peak_total_mb'] = row['peak_mem_mb'] + row['weights_mb']
                if args.estimate:
                    est = estimate_memory(model_cfg, frames, size, size)
                    row.update(est_step_growth_mb=est.step_growth_mb, est_peak_mb=est.peak_mb,
                               est_terms_mb=est.terms)
                    row.setdefault('learnable_params', est.learnable_params)
                    row.setdefault('total_params', est.total_params)
                    if 'peak_mem_mb' in row:
                        row['est_rel_error'] = (est.step_growth_mb - row['peak_mem_mb']) \
                            / row['peak_mem_mb']
                for key in ROW_KEYS:
                    row.setdefault(key, None)
                result['rows'].append(row)
    if result['rows']:
        print_table(result['rows'])
        result['ratios'] = mode_ratios(result['rows'])
        sys.stdout.write(format_ratios(result['ratios']))
    if args.paired_time and paired:
        from losa_plugin.benchmark.paired_time import format_paired
        size = args.size or default_size(load_model_cfg(paired[0][0], paired[0][1])[1])
        result['paired_time'] = run_child(dict(
            task='paired', models=paired, frames=args.frames[0], size=size,
            rounds=args.paired_time, device=args.device, threads=args.threads),
            timeout=6 * 3600)
        sys.stdout.write(format_paired(result['paired_time']))

    if args.attention:
        size = args.size or 224
        base = dict(task='attention', size=size, frames=args.attention_frames,
                    clips=args.attention_clips, device=args.device, threads=args.threads,
                    repeats=args.repeats)
        att = {f'{k}_{p}': run_child(dict(base, kind=k, fused=p == 'fused'))
               for k in ('speed', 'mem') for p in ('plain', 'fused')}
        att.update(setting=f'ViT-B {args.attention_frames}x{size}x{size}, '
                   f'{args.attention_clips} clips, fp32, {args.device}, {args.threads} thread(s)')
        result['attention'] = att
        sys.stdout.write(
            f'{att["setting"]}\nfrozen forward clips/s   plain {att["speed_plain"]:.3f}   '
            f'fused {att["speed_fused"]:.3f}   (x{att["speed_fused"] / att["speed_plain"]:.2f})\n'
            f'full-FT step peak MiB    plain {att["mem_plain"]:.0f}   '
            f'fused {att["mem_fused"]:.0f}\n')

    if args.tap_cache:
        result['tap_cache'] = []
        for config in args.configs:
            _, model_cfg, _ = load_model_cfg(config, None)
            size = args.size or default_size(model_cfg)
            tc = run_child(dict(task='tap_cache', config=config, size=size,
                                frames=args.frames[0], windows=args.cache_windows,
                                epochs=args.cache_epochs, threads=args.threads))
            result['tap_cache'].append(tc)
            sys.stdout.write(
                f'tap cache {config}: {tc["windows"]} windows x {tc["frames"]} frames, '
                f'online epoch {sum(tc["online_epoch_s"]) / tc["epochs"]:.2f}s, cached epochs '
                + ', '.join(f'{t:.2f}s' for t in tc['cached_epoch_s'])
                + f' -> x{tc["speedup_after_first"]:.1f} after the first; cache '
                f'{tc["cache_mb"]:.1f} MiB\n')

    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    if args.plot and result['rows']:
        plot(result['rows'], args.plot)


if __name__ == '__main__':
    main()
