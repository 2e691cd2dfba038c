"""The synthetic TAL benchmark: head-only vs LoSA vs full fine-tuning in three regimes.

Steps, each a separate process scheduled on ``jobs`` cores as soon as its inputs exist
(:mod:`tasks`), each skipped when its output exists:

1. per regime (:mod:`regimes`), generate the untrimmed TAL videos and the trimmed
   pretraining clips (``--data-seed`` picks a fresh data set);
2. per regime, pretrain its ViT as an MMAction2 recognizer on the trimmed clips
   (``configs/synthetic/pretrain_vit-tiny_synthetic-trimmed.py`` + the regime's backbone),
   validated every epoch (the curve goes to ``results.json``);
3. per regime (qualification, :mod:`qualification`), probe every block of the backbone
   on trimmed clips of the TAL classes and pick the best intermediate block ``K*``;
4. per regime, seed and strategy, train the TAL config on the untrimmed videos and test
   it (:mod:`benchmark_run`); with the qualification also head-only on block ``K*``.
   Frozen strategies share a per-clip tap cache (:mod:`clip_tap_cache`): their first
   seed runs online and fills it, the others read it;
5. aggregate: ``results.json`` (``{"regimes": {...}, "paired": {...}, "qualification":
   {...}, "_meta": {...}}``, mAP as fractions), ``results.md``, ``results.png``,
   ``gates.png``.

See ``docs/synthetic_benchmark.md``. Library code logs through mmengine's ``MMLogger``.
"""
import importlib.util
import os
import os.path as osp
import platform
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import MMLogger

from . import benchmark_steps as steps
from .benchmark_report import (format_gates, format_paired, format_table,
                               paired_average_map, run_result, summarize_runs,
                               write_outputs)
from .console import JobProgress, format_job_summary, job_log
from .pretrain_step import plan_pretraining, pretrain_task_fn
from .probe_step import run_layer_probe
from .qualification import PROBE_CLIPS_PER_CLASS, qualification
from .regimes import CONFIG_DIR, DEFAULT_REGIMES, REGIMES, REPO_ROOT, Regime
from .tasks import Task, run_tasks, simulate_schedule

#: strategy name -> TAL config (written for the aligned backbone; a regime's overrides
#: put its own backbone in)
STRATEGIES: Dict[str, str] = {
    'head_only': osp.join(CONFIG_DIR, 'head-only_vit-tiny_synthetic.py'),
    'losa': osp.join(CONFIG_DIR, 'losa_vit-tiny_synthetic.py'),
    'full_ft': osp.join(CONFIG_DIR, 'full-ft_vit-tiny_synthetic.py'),
}
#: Table-4 ablation / memory-mode name -> config (model deltas over the LoSA config)
ABLATIONS: Dict[str, str] = {
    name: osp.join(CONFIG_DIR, 'ablations', f'losa_vit-tiny_synthetic_{name.replace("_", "-")}.py')
    for name in ('wo_long', 'wo_short', 'wo_fusion', 'gate_one', 'gate_random', 'gate_cosine',
                 'gate_cosine_token', 'layers_upper', 'bf16', 'stream', 'pool2', 'gate_lr1', 'proj_frozen',
                 'attention_output')
}
#: Diagnostics: the head-only baseline reading block k instead of the last (what each
#: layer alone carries for TAL), ``head_only_layer<k>`` for k = 1..7.
DIAGNOSTICS: Dict[str, Tuple[str, dict]] = {
    f'head_only_layer{k}': (STRATEGIES['head_only'], {'model.backbone.tap_layers': [k]})
    for k in range(1, 8)
}
#: head-only on the best intermediate block of the TAL-class probe (qualification check 2)
BEST_BLOCK = 'head_only_best_block'
LOGGER_NAME = 'synthetic_benchmark'


def baseline_strategies() -> Dict[str, str]:
    """PEFT baselines on the synthetic benchmark (``losa_plugin/synthetic/
    baseline_strategies.py``, ``BASELINE_STRATEGIES``: name -> config), when present."""
    if importlib.util.find_spec('losa_plugin.synthetic.baseline_strategies') is None:
        return {}
    from . import baseline_strategies as mod
    return dict(getattr(mod, 'BASELINE_STRATEGIES', {}))


def all_strategies() -> Dict[str, str]:
    """Every name ``--strategies`` accepts: the three strategies and the baselines."""
    return {**STRATEGIES, **baseline_strategies()}


@dataclass
class BenchmarkSettings:
    """Sizes and schedules of one benchmark mode.

    Args:
        name (str): ``'full'`` or ``'quick'`` (part of the output folders' names).
        num_videos (int): untrimmed videos per regime (1/3 Test, the rest training).
        num_per_class (int): trimmed pretraining clips per class (20 % val).
        pretrain_epochs (int): at most this many pretraining epochs.
        pretrain_hold (int): epochs at the full lr after the pretraining's take-off (val
            top-1 >= 50 %, :class:`TakeoffLRSchedule`).
        pretrain_decay (int): epochs of the cosine decay that follows; then it stops.
            The tiny ViT sits at chance for a seed-dependent ~900 to 2,000+ steps and
            then learns abruptly, so a fixed decay either stalls it or wastes steps
            (docs/synthetic_benchmark.md, "Pretraining").
        tal_epochs (int): TAL training epochs (the same for every strategy).
        seeds (int): training seeds of the frozen strategies (head-only, LoSA and the
            ablations; paired: seed k is the same data order for all).
        full_ft_seeds (int): training seeds of the strategies that train the backbone.
        data_seed (int): seed of the generated data and of the pretraining. Default 0.
        threads (int): torch threads per process. Default 1 (on a shared 2-core machine
            two OpenMP threads slowed steps several-fold).
        jobs (int): processes at a time. Default 2 (the cores).
        tap_cache (bool): frozen strategies read cached taps after their first seed.
            Default True.
        probe_per_class (int): trimmed TAL-class clips a class for the qualification's
            probe (20 % val). Default :data:`PROBE_CLIPS_PER_CLASS`.
    """
    name: str
    num_videos: int
    num_per_class: int
    pretrain_epochs: int
    pretrain_hold: int
    pretrain_decay: int
    tal_epochs: int
    seeds: int
    full_ft_seeds: int
    data_seed: int = 0
    threads: int = 1
    jobs: int = 2
    tap_cache: bool = True
    probe_per_class: int = PROBE_CLIPS_PER_CLASS


# 300 clips a class: 1,200 training clips, 75 steps of 16 an epoch
FULL = BenchmarkSettings('full', num_videos=96, num_per_class=300, pretrain_epochs=60,
                         pretrain_hold=6, pretrain_decay=6, tal_epochs=10, seeds=6,
                         full_ft_seeds=3)
QUICK = BenchmarkSettings('quick', num_videos=36, num_per_class=24, pretrain_epochs=4,
                          pretrain_hold=1, pretrain_decay=2, tal_epochs=6, seeds=2,
                          full_ft_seeds=1, probe_per_class=12)


def _logger() -> MMLogger:
    if MMLogger.check_instance_created(LOGGER_NAME):
        return MMLogger.get_instance(LOGGER_NAME)
    return MMLogger.get_instance(LOGGER_NAME, log_level='INFO')


def _backbone_kind(config: str) -> Tuple[bool, bool]:
    """(frozen layer-tap backbone: the tap cache applies, has a ``vit`` to replace)."""
    from mmengine.config import Config
    backbone = Config.fromfile(config).model.get('backbone') or {}
    frozen = backbone.get('type') == 'LayerTapViT' and backbone.get('frozen', True)
    return bool(frozen), 'vit' in backbone


def run_benchmark(out_dir: str,
                  quick: bool = False,
                  seeds: Optional[int] = None,
                  full_ft_seeds: Optional[int] = None,
                  strategies: Sequence[str] = tuple(STRATEGIES),
                  ablations: Sequence[str] = (),
                  diagnostics: Sequence[str] = (),
                  regimes: Sequence[str] = DEFAULT_REGIMES,
                  data_seed: int = 0,
                  tal_epochs: Optional[int] = None,
                  threads: Optional[int] = None,
                  jobs: Optional[int] = None,
                  tap_cache: bool = True,
                  shuffle_labels: bool = False,
                  probe: bool = False,
                  pretrain: bool = False,
                  ship_backbones: bool = False,
                  qualify: bool = True,
                  verbose: bool = False) -> dict:
    """Run the benchmark into ``out_dir``; returns the ``results.json`` content.

    The console shows one progress display (:mod:`console`) and, at the end, the results
    tables, the paired differences and where the files are; each step's process writes
    its output to its own folder (``console.log`` beside mmengine's log) and this job's
    log goes to ``out_dir/logs/``.

    Args:
        out_dir (str): output folder (data, pretraining, runs, tap cache, results).
        quick (bool): the small mode (:data:`QUICK`) instead of :data:`FULL`.
        seeds (int, optional): seeds 0..seeds-1 of the frozen strategies (paired).
        full_ft_seeds (int, optional): seeds of the strategies that train the backbone.
        strategies (Sequence[str]): keys of :func:`all_strategies`.
        ablations (Sequence[str]): keys of :data:`ABLATIONS` (LoSA model deltas).
        diagnostics (Sequence[str]): keys of :data:`DIAGNOSTICS`.
        regimes (Sequence[str]): keys of :data:`REGIMES`.
        data_seed (int): seed of the generated data and the pretraining.
        tal_epochs (int, optional): override the TAL epochs of the mode.
        threads (int, optional): torch threads per process; default from the mode.
        jobs (int, optional): processes at a time; default from the mode.
        tap_cache (bool): frozen strategies read cached taps after their first seed.
        shuffle_labels (bool): train on permuted class labels (the floor measurement).
        probe (bool): linear probes of every block of each pretrained backbone on the
            trimmed clips (:mod:`layer_probe`), stored under ``_meta``.
        pretrain (bool): pretrain every regime's backbone here, even when the repository
            ships the backbone of exactly this pretraining (:mod:`shipped_backbones`;
            then the log and ``_meta`` say whether it came out the same).
        ship_backbones (bool): write the backbones pretrained here to
            ``checkpoints/synthetic/`` (how the shipped files were made).
        qualify (bool): the qualification checks (:mod:`qualification`): a probe of
            every block on trimmed TAL-class clips, head-only on its best intermediate
            block over the frozen seeds, and the ``qualification`` block of
            ``results.json`` (with head-only and full FT run). Default True.
        verbose (bool): the console shows every log line instead: this job's and every
            step process's full mmengine log, interleaved.
    """
    os.makedirs(osp.join(out_dir, 'logs'), exist_ok=True)
    log_file = osp.join(out_dir, 'logs', f'benchmark_{time.strftime("%Y%m%d_%H%M%S")}.log')
    with job_log(_logger(), log_file, quiet=not verbose):
        return _run_benchmark(out_dir, quick=quick, seeds=seeds, full_ft_seeds=full_ft_seeds,
                              strategies=strategies, ablations=ablations,
                              diagnostics=diagnostics, regimes=regimes, data_seed=data_seed,
                              tal_epochs=tal_epochs, threads=threads, jobs=jobs,
                              tap_cache=tap_cache, shuffle_labels=shuffle_labels, probe=probe,
                              pretrain=pretrain, ship_backbones=ship_backbones,
                              qualify=qualify, verbose=verbose, log_file=log_file)


def _run_benchmark(out_dir: str, quick: bool, seeds: Optional[int],
                   full_ft_seeds: Optional[int], strategies: Sequence[str],
                   ablations: Sequence[str], diagnostics: Sequence[str],
                   regimes: Sequence[str], data_seed: int, tal_epochs: Optional[int],
                   threads: Optional[int], jobs: Optional[int], tap_cache: bool,
                   shuffle_labels: bool, probe: bool, pretrain: bool, ship_backbones: bool,
                   qualify: bool, verbose: bool, log_file: str) -> dict:
    """:func:`run_benchmark` with this job's log set up."""
    settings = replace(QUICK if quick else FULL, data_seed=int(data_seed),
                       tap_cache=bool(tap_cache))
    fixed_seeds = dict(seeds=seeds, full_ft_seeds=full_ft_seeds)  # None: per regime
    settings = replace(settings, seeds=seeds or settings.seeds,
                       full_ft_seeds=full_ft_seeds or settings.full_ft_seeds,
                       tal_epochs=tal_epochs or settings.tal_epochs,
                       threads=threads or settings.threads, jobs=jobs or settings.jobs)
    known = all_strategies()
    bad = [s for s in strategies if s not in known] + [a for a in ablations if a not in ABLATIONS]
    bad += [d for d in diagnostics if d not in DIAGNOSTICS]
    bad += [r for r in regimes if r not in REGIMES]
    if bad:
        raise ValueError(f'unknown strategies / ablations / diagnostics / regimes {bad}; '
                         f'strategies: {list(known)}, ablations: {list(ABLATIONS)}, '
                         f'diagnostics: {list(DIAGNOSTICS)}, regimes: {list(REGIMES)}')
    logger = _logger()
    t_start, cpu_start = time.perf_counter(), time.process_time()
    load_start = os.getloadavg()
    tag = f'{settings.name}-s{settings.data_seed}'
    os.makedirs(out_dir, exist_ok=True)

    # name -> (config, extra overrides); seeds and cache eligibility per name
    configs: Dict[str, Tuple[str, dict]] = {s: (known[s], {}) for s in strategies}
    configs.update({f'losa_{a}': (ABLATIONS[a], {}) for a in ablations})
    configs.update({d: DIAGNOSTICS[d] for d in diagnostics})
    if qualify and 'head_only' in configs:  # its tapped block is set per regime, below
        configs[BEST_BLOCK] = (STRATEGIES['head_only'], {})
    kinds = {name: _backbone_kind(cfg) for name, (cfg, _) in configs.items()}

    def n_seeds(rname: str, name: str) -> int:
        key = 'seeds' if kinds[name][0] else 'full_ft_seeds'
        per_regime = None if quick else getattr(REGIMES[rname], key)
        return fixed_seeds[key] or per_regime or getattr(settings, key)

    tasks: List[Task] = []
    data: Dict[str, dict] = {}
    ckpts: Dict[str, str] = {}
    pretrain_results: Dict[str, dict] = {}
    task_cpu: Dict[str, float] = {}
    lock = threading.Lock()
    counter = dict(done=0)

    def log_done(name: str, result: dict) -> None:
        with lock:
            counter['done'] += 1
            task_cpu[name] = float(result.get('cpu_time_s') or 0.0)
            logger.info(f'[done {counter["done"]}/{len(tasks)}] {name}, elapsed '
                        f'{time.perf_counter() - t_start:.0f} s')

    plans = {}
    needs_clips: Dict[str, bool] = {}  # the clips only feed a pretraining (or the probes)
    data_tasks: Dict[str, List[Task]] = dict(trimmed=[], untrimmed=[], tal_trimmed=[])
    probe_data: Dict[str, dict] = {}  # regime -> the TAL-class clips of its probe
    trimmed_task: Dict[str, str] = {}  # regime -> name of the task writing its clips
    for rname in regimes:
        regime = REGIMES[rname]
        untrimmed = osp.join(out_dir, 'data', tag, rname, 'untrimmed')
        clips = steps.trimmed_dir(osp.join(out_dir, 'data', tag), regime)
        data[rname] = steps.data_paths(untrimmed, clips, len(regime.tal_cfg().label_names))
        pre_data = dict(data[rname], num_classes=len(regime.pretrain_cfg().label_names))
        pre_spec = steps.pretrain_spec(
            regime, pre_data, osp.join(out_dir, 'pretrain', tag, rname), settings.pretrain_epochs,
            settings.pretrain_hold, settings.pretrain_decay, settings.data_seed, settings.threads)
        plans[rname] = plan_pretraining(regime, pre_spec, settings.num_per_class,
                                        settings.data_seed, force=pretrain or ship_backbones)
        needs_clips[rname] = plans[rname].train or probe
        trimmed_task[rname] = f'data-{osp.basename(clips)}'
        jobs_here = [('untrimmed', untrimmed, settings.num_videos, data[rname]['ann_file'],
                      f'{rname}/data-untrimmed')]
        queued = {t.name for t in data_tasks['trimmed']}  # regimes may share their clips
        if needs_clips[rname] and trimmed_task[rname] not in queued:
            jobs_here.append(('trimmed', clips, settings.num_per_class,
                              data[rname]['val_list'], trimmed_task[rname]))
        if qualify:
            tal_clips = osp.join(out_dir, 'data', tag, rname, 'tal-clips')
            probe_data[rname] = steps.data_paths(untrimmed, tal_clips,
                                                 len(regime.tal_cfg().label_names))
            jobs_here.append(('tal_trimmed', tal_clips, settings.probe_per_class,
                              probe_data[rname]['val_list'], f'{rname}/data-tal-clips'))
        for what, where, num, out, name in jobs_here:
            spec = steps.generate_spec(regime, what, where, num, settings.data_seed)

            def gen(spec=spec, out=out, name=name):
                result = steps.finished_run(spec, spec['result'] + '.spec', out)
                if result is None:
                    logger.info(f'{name}: generating ({spec["num"]}, seed {spec["seed"]})')
                    result = steps.run_in_subprocess(
                        spec, spec['result'] + '.spec',
                        log_file=None if verbose else steps.console_log_path(spec))
                else:
                    logger.info(f'{name}: {out} exists, not regenerated')
                log_done(name, result)
                return result
            data_tasks[what].append(Task(name, gen))
    # the pretraining clips first: the pretrainings are the longest steps
    tasks += data_tasks['trimmed']

    for rname in regimes:
        regime = REGIMES[rname]
        fn = pretrain_task_fn(regime, plans[rname], ckpts, pretrain_results, log_done, logger,
                              ship=ship_backbones, quiet=not verbose)
        # pretraining reads the clips; the probes (at the end) need them too
        deps = [trimmed_task[rname]] if needs_clips[rname] else []
        tasks.append(Task(f'{rname}/pretrain', fn, deps=deps))
    tasks += data_tasks['untrimmed'] + data_tasks['tal_trimmed']

    probes: Dict[str, Dict[str, float]] = {}  # regime -> TAL-class probe accuracies
    best: Dict[str, int] = {}                  # regime -> K*
    for rname in probe_data:
        def probe_task(rname=rname):
            from .qualification import best_block, probe_by_block
            start = time.thread_time()
            probes[rname] = run_layer_probe(REGIMES[rname], ckpts[rname], probe_data[rname],
                                            probe_data[rname]['num_classes'], settings.threads)
            best[rname] = best_block(probe_by_block(probes[rname]))
            logger.info(f'{rname}: best intermediate block on the TAL-class probe: '
                        f'{best[rname]}')
            result = dict(cpu_time_s=time.thread_time() - start)
            log_done(f'{rname}/probe', result)
            return result
        tasks.append(Task(f'{rname}/probe', probe_task,
                          deps=[f'{rname}/pretrain', f'{rname}/data-tal-clips']))

    runs: Dict[str, Dict[str, List[dict]]] = {r: {n: [] for n in configs} for r in regimes}
    max_seeds = max((n_seeds(r, n) for r in regimes for n in configs), default=0)
    for seed in range(max_seeds):
        for rname in regimes:
            regime = REGIMES[rname]
            for name, (config, extra) in configs.items():
                if seed >= n_seeds(rname, name):
                    continue
                frozen, has_vit = kinds[name]
                if rname != 'aligned' and not has_vit:
                    raise ValueError(f'{name}: {config} has no model.backbone.vit, so the '
                                     f'{rname} regime cannot put its backbone in')
                mode = (None if not (frozen and settings.tap_cache)
                        else 'write' if seed == 0 else 'read')

                def tal(rname=rname, regime=regime, name=name, config=config, extra=extra,
                        seed=seed, mode=mode):
                    work_dir = osp.join(out_dir, 'runs', tag, rname, f'{name}_seed{seed}')
                    det_file = osp.join(work_dir, 'detections.json')
                    overrides = steps.tal_overrides(data[rname], ckpts[rname], seed,
                                                    settings.tal_epochs, shuffle_labels,
                                                    det_file)
                    overrides.update(regime.tal_model_overrides())
                    overrides.update(extra)
                    if name == BEST_BLOCK:
                        overrides['model.backbone.tap_layers'] = [best[rname]]
                    spec = dict(config=config, work_dir=work_dir, threads=settings.threads,
                                test=True, overrides=overrides,
                                result=osp.join(work_dir, 'result.json'))
                    if mode is not None:
                        spec['tap_cache'] = dict(root=osp.join(out_dir, 'tap_cache', tag, rname),
                                                 mode=mode)
                    raw = steps.finished_run(spec, osp.join(work_dir, 'spec.json'), det_file)
                    what = 'reusing the finished run' if raw is not None else (
                        f'{settings.tal_epochs} epochs'
                        + (f', tap cache {mode}' if mode else ''))
                    logger.info(f'[start] {rname}/{name} seed {seed}: {what} '
                                f'({osp.relpath(config, REPO_ROOT)})')
                    if raw is None:
                        raw = steps.run_in_subprocess(
                            spec, osp.join(work_dir, 'spec.json'),
                            log_file=None if verbose else steps.console_log_path(spec))
                    run = run_result(raw, seed, online=mode != 'read')
                    run['class_agnostic_average_mAP'] = steps.class_agnostic_map(
                        data[rname]['ann_file'], det_file)
                    run['per_class_average_AP'] = steps.per_class_average_ap(
                        data[rname]['ann_file'], det_file)
                    run['config_dump'] = osp.join(work_dir, osp.basename(config))
                    with lock:
                        runs[rname][name].append(run)
                        msg = (f'{rname}/{name} seed {seed}: average mAP '
                               f'{100 * run["average_mAP"]:.1f} %, peak train memory '
                               f'{run["peak_mem_mb"]:.0f} MB, train {run["train_time_s"]:.0f} s')
                        if 'average_mAP_gates_off' in run:
                            msg += (f', gates set to zero: '
                                    f'{100 * run["average_mAP_gates_off"]:.1f} %')
                        logger.info(msg)
                        if run['gates']:
                            logger.info(f'{rname}/{name} seed {seed} gates:\n'
                                        f'{format_gates(run["gates"])}')
                    log_done(f'{rname}/{name}/seed{seed}', raw)
                    return run
                deps = [f'{rname}/pretrain', f'{rname}/data-untrimmed']
                if name == BEST_BLOCK:
                    deps.append(f'{rname}/probe')
                if mode == 'read':  # after the online run that fills the cache
                    deps.append(f'{rname}/{name}/seed0')
                tasks.append(Task(f'{rname}/{name}/seed{seed}', tal, deps=deps))

    logger.info(f'{len(tasks)} steps on {settings.jobs} process slots ({tag}: regimes '
                f'{list(regimes)}, seeds {settings.seeds} frozen / {settings.full_ft_seeds} '
                'backbone-training)')
    if verbose:
        run_tasks(tasks, settings.jobs)
    else:
        progress = JobProgress(tasks, settings.jobs, logger=logger)
        progress.write(f'synthetic benchmark {tag}: {len(tasks)} steps on {settings.jobs} '
                       f'process slots in {out_dir}\n  this job\'s log: {log_file}\n  each '
                       f'step\'s full log: console.log in its folder under runs/{tag}/, '
                       f'pretrain/{tag}/, data/{tag}/')
        with progress:
            run_tasks(progress.wrap(tasks), settings.jobs)

    regime_results: Dict[str, Dict[str, dict]] = {
        r: {name: summarize_runs(rs) for name, rs in runs[r].items() if rs} for r in regimes}
    paired = {r: paired_average_map(regime_results[r],
                                    class_groups=REGIMES[r].class_groups()) for r in regimes}
    for rname in regimes:  # LoSA's floor: head-only on the best single block
        floor = paired_average_map(regime_results[rname], 'losa', BEST_BLOCK)
        if paired[rname] is not None and floor is not None:
            paired[rname]['vs_best_block'] = dict(floor, block=best.get(rname))
    qualified = {r: qualification(regime_results[r], probes.get(r), best.get(r),
                                  BEST_BLOCK) for r in probe_data}
    regime_meta = {}
    for rname in regimes:
        regime = REGIMES[rname]
        pre_classes, tal_classes = regime.class_sets()
        regime_meta[rname] = dict(
            summary=regime.summary, pretrain=pretrain_results[rname],
            pretrain_classes=list(pre_classes), tal_classes=list(tal_classes),
            backbone=regime.vit(), ann_file=data[rname]['ann_file'],
            random_predictions_average_mAP=steps.random_prediction_map(data[rname]['ann_file']),
            random_predictions_class_agnostic_average_mAP=steps.random_prediction_map(
                data[rname]['ann_file'], class_agnostic=True),
            layer_probe=run_layer_probe(regime, ckpts[rname], data[rname],
                                        len(pre_classes), settings.threads)
            if probe else None,
            tal_class_probe=probes.get(rname))
    wall = time.perf_counter() - t_start
    cpu_total = sum(task_cpu.values()) + time.process_time() - cpu_start
    durations = {t.name: task_cpu.get(t.name, 0.0) for t in tasks}
    meta = dict(settings=asdict(settings), tious=[0.3, 0.4, 0.5, 0.6, 0.7],
                mAP_unit='fraction', shuffle_labels=shuffle_labels, regimes=regime_meta,
                wall_time_s=wall, cpu_time_s=cpu_total,
                quiet_wall_time_estimate_s=simulate_schedule(tasks, durations, settings.jobs),
                task_cpu_time_s=durations, machine=dict(
                    cpus=os.cpu_count(), platform=platform.platform(),
                    loadavg_start=list(load_start), loadavg_end=list(os.getloadavg())),
                memory='peak RSS growth during runner.train(), fresh process per run '
                '(PeakMemoryMeter); online runs only (see per_seed for the cached ones)')
    if not configs:  # e.g. `--ship-backbones --strategies`: data and pretraining only
        msg = f'no strategies: data and pretraining only; {out_dir}/results.* left as they were'
        if verbose:
            logger.info(msg)
        else:
            progress.write(msg)
        return dict(regimes=regime_results, paired=paired, qualification=qualified,
                    _meta=meta)
    write_outputs(regime_results, paired, meta, out_dir, qualified)
    for rname in regimes:
        logger.info(f'{rname} ({settings.seeds} / {settings.full_ft_seeds} seeds):\n'
                    f'{format_table(regime_results[rname])}')
    logger.info(f'paired LoSA - head-only:\n{format_paired(paired)}')
    logger.info(f'wall time {wall:.0f} s (CPU {cpu_total:.0f} s; on a quiet machine with '
                f'{settings.jobs} cores ~{meta["quiet_wall_time_estimate_s"]:.0f} s); '
                f'outputs in {out_dir}')
    if not verbose:
        progress.write(format_job_summary(
            regime_results, paired, (settings.seeds, settings.full_ft_seeds), out_dir,
            dict(runs=osp.join(out_dir, 'runs', tag), log=log_file), wall, cpu_total,
            qualified))
    return dict(regimes=regime_results, paired=paired, qualification=qualified, _meta=meta)

