"""The synthetic TAL benchmark: head-only vs LoSA vs full fine-tuning on a CPU.

Steps (each skipped when its output exists):

1. generate the synthetic data (:func:`generate_untrimmed`, :func:`generate_trimmed`);
2. pretrain the tiny ViT as an MMAction2 recognizer on the trimmed clips
   (``configs/synthetic/pretrain_vit-tiny_synthetic-trimmed.py``);
3. per seed and strategy, train the TAL config on the untrimmed videos and test it
   (``configs/synthetic/{head-only,losa,full-ft}_vit-tiny_synthetic.py``, ablations in
   ``configs/synthetic/ablations/``), each run in a fresh process
   (:mod:`losa_plugin.synthetic.benchmark_run`) so peak memory is per run;
4. aggregate: ``results.json``, ``results.md``, ``results.png``, ``gates.png``.

See ``docs/synthetic_benchmark.md``. Library code logs through mmengine's ``MMLogger``.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import MMLogger

from .config import SyntheticConfig
from .trimmed import generate_trimmed
from .untrimmed import generate_untrimmed

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'synthetic')
PRETRAIN_CONFIG = osp.join(CONFIG_DIR, 'pretrain_vit-tiny_synthetic-trimmed.py')

#: strategy name -> TAL config (model deltas over one base)
STRATEGIES: Dict[str, str] = {
    'head_only': osp.join(CONFIG_DIR, 'head-only_vit-tiny_synthetic.py'),
    'losa': osp.join(CONFIG_DIR, 'losa_vit-tiny_synthetic.py'),
    'full_ft': osp.join(CONFIG_DIR, 'full-ft_vit-tiny_synthetic.py'),
}
#: Table-4 ablation / memory-mode name -> config (model deltas over the LoSA config)
ABLATIONS: Dict[str, str] = {
    name: osp.join(CONFIG_DIR, 'ablations', f'losa_vit-tiny_synthetic_{name.replace("_", "-")}.py')
    for name in ('wo_long', 'wo_short', 'wo_fusion', 'gate_one', 'gate_random', 'gate_cosine',
                 'layers_upper', 'bf16', 'stream', 'pool2', 'gate_lr10', 'proj_frozen')
}
#: Diagnostics (name -> config): the head-only baseline reading one intermediate block
#: instead of the last (what each layer alone carries for TAL), and head-only / LoSA with
#: a LayerNorm on the pooled last layer (the adapters' outputs next to a unit-scale F_N).
DIAGNOSTICS: Dict[str, str] = {
    **{f'head_only_layer{k}': osp.join(CONFIG_DIR, 'diagnostics',
                                       f'head-only_vit-tiny_synthetic_layer{k}.py')
       for k in (1, 2, 3)},
    'head_only_norm': osp.join(CONFIG_DIR, 'diagnostics', 'head-only_vit-tiny_synthetic_norm.py'),
    'losa_norm': osp.join(CONFIG_DIR, 'diagnostics', 'losa_vit-tiny_synthetic_norm.py'),
}
TIOUS = (0.3, 0.4, 0.5, 0.6, 0.7)
#: The benchmark's data: :class:`SyntheticConfig` fields that differ from the generator's
#: defaults (docs/synthetic_benchmark.md, "Easier data"): five distinct motion types (one
#: mirror pair kept), one large high-contrast object, no distractors or nuisances. On the
#: default data the tiny ViT stays at chance; on this data it leaves chance after ~800
#: steps and reaches ~88 % val top-1 after 1,600 (1,200 clips).
BENCHMARK_DATA: Dict[str, object] = dict(
    classes=('MoveRight', 'MoveLeft', 'RotateClockwise', 'Grow', 'Blink'),
    static_distractors=(0, 0), moving_distractors=(0, 0), camera_jitter=0.0, noise_std=0.0,
    texture_contrast=0.0, illumination_drift=0.0, object_length=(0.45, 0.65),
    move_speed=(0.6, 1.0), min_contrast=120.0)
LOGGER_NAME = 'synthetic_benchmark'


@dataclass
class BenchmarkSettings:
    """Sizes and schedules of one benchmark mode.

    Args:
        name (str): ``'full'`` or ``'quick'`` (also the data / pretrain sub-folder).
        num_videos (int): untrimmed videos (1/3 Test, the rest Validation = training).
        num_per_class (int): trimmed clips per class for pretraining (20 % val).
        pretrain_epochs (int): recognizer pretraining epochs.
        tal_epochs (int): TAL training epochs (the same for every strategy).
        seeds (int): training seeds per strategy (data and pretraining are shared).
        data_seed (int): seed of the generated data. Default 0.
        threads (int): torch threads per run. Default 1 (see the docs: on a shared
            2-core machine two OpenMP threads slowed steps several-fold).
        jobs (int): TAL runs at a time (separate processes). Default 2 (the cores).
        pretrain_constant_lr (bool): pretrain at a constant lr after the warm-up, with no
            gradient clipping. The tiny ViT stays at chance for ~700 steps and then learns
            abruptly; a cosine decay over 1,500 steps lowers the lr before that (measured:
            24.7 % val top-1, 5 classes) while a constant 1e-3 reached 88 %. Default False.
    """
    name: str
    num_videos: int
    num_per_class: int
    pretrain_epochs: int
    tal_epochs: int
    seeds: int
    data_seed: int = 0
    threads: int = 1
    jobs: int = 2
    pretrain_constant_lr: bool = False


# 300 clips a class x 20 epochs = 1,500 pretraining steps of 16 (the ViT needs > 1,000).
FULL = BenchmarkSettings('full', num_videos=96, num_per_class=300, pretrain_epochs=20,
                         tal_epochs=10, seeds=3, pretrain_constant_lr=True)
QUICK = BenchmarkSettings('quick', num_videos=36, num_per_class=24, pretrain_epochs=4,
                          tal_epochs=6, seeds=1)


def _logger() -> MMLogger:
    if MMLogger.check_instance_created(LOGGER_NAME):
        return MMLogger.get_instance(LOGGER_NAME)
    return MMLogger.get_instance(LOGGER_NAME, log_level='INFO')


# ---------------------------------------------------------------------- steps
def benchmark_data_config(**overrides) -> SyntheticConfig:
    """The generator config of the benchmark: :data:`BENCHMARK_DATA` (then
    ``overrides``) over the :class:`SyntheticConfig` defaults."""
    return SyntheticConfig(**dict(BENCHMARK_DATA, **overrides))


def prepare_data(data_dir: str, settings: BenchmarkSettings,
                 cfg: Optional[SyntheticConfig] = None) -> Dict[str, object]:
    """Generate the untrimmed and trimmed sets under ``data_dir`` unless present.

    Args:
        data_dir (str): output folder (``untrimmed/`` and ``trimmed/`` below it).
        settings (BenchmarkSettings): sizes and the data seed.
        cfg (SyntheticConfig, optional): generator config; default
            :func:`benchmark_data_config`.

    Returns ``dict(ann_file, video_dir, train_list, val_list, clip_dir, num_classes)``.
    """
    cfg = cfg or benchmark_data_config()
    paths = dict(ann_file=osp.join(data_dir, 'untrimmed', 'annotations.json'),
                 video_dir=osp.join(data_dir, 'untrimmed', 'videos'),
                 train_list=osp.join(data_dir, 'trimmed', 'train_list.txt'),
                 val_list=osp.join(data_dir, 'trimmed', 'val_list.txt'),
                 clip_dir=osp.join(data_dir, 'trimmed', 'clips'),
                 num_classes=len(cfg.label_names))
    _generate_unless_present(
        [paths['ann_file']], f'{settings.num_videos} untrimmed videos',
        lambda: generate_untrimmed(osp.join(data_dir, 'untrimmed'), settings.num_videos,
                                   settings.data_seed, cfg))
    _generate_unless_present(
        [paths['train_list'], paths['val_list']],
        f'{settings.num_per_class} trimmed clips per class',
        lambda: generate_trimmed(osp.join(data_dir, 'trimmed'), settings.num_per_class,
                                 settings.data_seed, cfg))
    return paths


def _generate_unless_present(outputs: Sequence[str], what: str, generate) -> None:
    """Call ``generate()`` unless every file of ``outputs`` exists; log either way."""
    logger = _logger()
    if all(osp.isfile(f) for f in outputs):
        logger.info(f'data: {outputs[0]} exists, not regenerated')
        return
    t0 = time.perf_counter()
    generate()
    logger.info(f'data: {what} in {time.perf_counter() - t0:.0f} s')


def _schedule_overrides(max_epochs: int, warmup_epochs: int) -> dict:
    """Epoch count with the matching warm-up + cosine schedule and final checkpoint."""
    if max_epochs < 1:
        raise ValueError(f'max_epochs must be >= 1, got {max_epochs}')
    warmup_epochs = min(warmup_epochs, max_epochs - 1)
    schedule = [dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0,
                     end=warmup_epochs, convert_to_iter_based=True)] if warmup_epochs else []
    schedule.append(dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
                         eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
                         convert_to_iter_based=True))
    return {
        'train_cfg.max_epochs': max_epochs,
        'param_scheduler': schedule,
        'default_hooks.checkpoint.interval': max_epochs,
    }


def run_in_subprocess(spec: dict, spec_file: str) -> dict:
    """Run :mod:`benchmark_run` on ``spec`` in a fresh process (its logs stream to this
    process's stdout); returns its result dict. Raises RuntimeError on failure."""
    os.makedirs(osp.dirname(spec_file), exist_ok=True)
    with open(spec_file, 'w') as f:
        json.dump(spec, f, indent=1)
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', str(spec.get('threads', 1)))
    cmd = [sys.executable, '-m', 'losa_plugin.synthetic.benchmark_run', spec_file]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f'run {spec["config"]} (work dir {spec["work_dir"]}) failed with '
                           f'exit code {proc.returncode}; see its log above')
    with open(spec['result']) as f:
        return json.load(f)


def finished_run(spec: dict, spec_file: str, det_file: str) -> Optional[dict]:
    """The result of an earlier run with exactly this spec (config, overrides, threads),
    or None. Lets an interrupted or extended benchmark (more ablations, seeds) skip the
    runs it already has, as it skips the data and the pretraining."""
    if not all(osp.isfile(f) for f in (spec_file, spec['result'], det_file)):
        return None
    with open(spec_file) as f:
        if json.load(f) != json.loads(json.dumps(spec)):
            return None
    with open(spec['result']) as f:
        return json.load(f)


def pretrain(work_dir: str, data: Dict[str, str], settings: BenchmarkSettings) -> str:
    """Pretrain the tiny ViT recognizer unless its checkpoint exists; returns the path."""
    ckpt = osp.join(work_dir, f'epoch_{settings.pretrain_epochs}.pth')
    logger = _logger()
    if osp.isfile(ckpt):
        logger.info(f'pretrain: {ckpt} exists, not retrained')
        return ckpt
    overrides = {'log_level': 'INFO', 'randomness.seed': settings.data_seed}
    if 'num_classes' in data:
        overrides['model.cls_head.num_classes'] = data['num_classes']
    for split, ann in (('train', data['train_list']), ('val', data['val_list']),
                       ('test', data['val_list'])):
        overrides[f'{split}_dataloader.dataset.ann_file'] = ann
        overrides[f'{split}_dataloader.dataset.data_prefix.video'] = data['clip_dir']
    overrides.update(_schedule_overrides(settings.pretrain_epochs, 2))
    if settings.pretrain_constant_lr:
        overrides['param_scheduler'] = overrides['param_scheduler'][:1]  # warm-up only
        overrides['optim_wrapper.clip_grad'] = None
    logger.info(f'pretrain: tiny ViT recognizer, {settings.pretrain_epochs} epochs -> {ckpt}')
    spec = dict(config=PRETRAIN_CONFIG, work_dir=work_dir, overrides=overrides,
                threads=settings.threads, test=True, result=osp.join(work_dir, 'result.json'))
    result = run_in_subprocess(spec, osp.join(work_dir, 'spec.json'))
    acc = result['metrics'].get('acc/top1')
    logger.info(f'pretrain: done in {result["train_time_s"]:.0f} s, val top-1 '
                f'{100 * acc:.1f} %' if acc is not None else 'pretrain: done')
    if not osp.isfile(ckpt):
        raise RuntimeError(f'pretrain: expected the checkpoint {ckpt} after training')
    return ckpt


def tal_overrides(data: Dict[str, str], pretrained: str, seed: int, max_epochs: int,
                  shuffle_labels: bool = False, detections_file: Optional[str] = None) -> dict:
    """Dotted-key overrides pointing a synthetic TAL config at the generated data
    (and, with ``detections_file``, dumping the test detections there). With
    ``data['num_classes']`` (from :func:`prepare_data`) the head's class count follows
    the data."""
    ann = data['ann_file']
    out = {
        'model.backbone.pretrained': pretrained,
        'randomness.seed': seed,
        'log_level': 'INFO',
    }
    if 'num_classes' in data:
        out['model.head.num_classes'] = data['num_classes']
    for split in ('train', 'val', 'test'):
        out[f'{split}_dataloader.dataset.ann_file'] = ann
        out[f'{split}_dataloader.dataset.data_prefix.video'] = data['video_dir']
    for split in ('val', 'test'):
        out[f'{split}_evaluator.ann_file'] = ann
    if detections_file is not None:
        out['test_evaluator.out_file'] = detections_file
    out.update(_schedule_overrides(max_epochs, 1))
    if shuffle_labels:
        out['train_dataloader.dataset.ann_file'] = shuffled_label_file(ann, seed)
    return out


def shuffled_label_file(ann_file: str, seed: int) -> str:
    """A copy of ``ann_file`` whose training ('Validation') labels are permuted at random
    across all training segments (segments kept): the floor a pipeline that cannot learn
    the classes reaches. Returns the new path (next to the original)."""
    with open(ann_file) as f:
        data = json.load(f)
    rng = np.random.default_rng(seed)
    anns = [a for v in data['database'].values() if v['subset'] == 'Validation'
            for a in v['annotations']]
    perm = rng.permutation(len(anns))
    labels = [(anns[i]['label'], anns[i]['label_id']) for i in perm]
    for a, (label, label_id) in zip(anns, labels):
        a['label'], a['label_id'] = label, label_id
    out = osp.splitext(ann_file)[0] + f'_shuffled{seed}.json'
    with open(out, 'w') as f:
        json.dump(data, f)
    return out


def random_prediction_map(ann_file: str, subset: str = 'Test', per_video: int = 100,
                          seed: int = 0) -> float:
    """Average mAP (%) of random detections: ``per_video`` segments per test video with
    uniform centres, log-uniform lengths over the ground truth's length range, random
    classes and scores. The level a pipeline whose outputs ignore the video reaches."""
    from ..datasets.tal_annotation import load_tal_annotations
    from ..evaluation.detection_eval import Detections, evaluate_detections
    videos = load_tal_annotations(ann_file, subset)
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([v['segments'][:, 1] - v['segments'][:, 0] for v in videos])
    lo, hi = np.log(max(lengths.min(), 1e-2)), np.log(lengths.max())
    num_classes = len(videos[0]['class_names'])
    ids, segs = [], []
    for v in videos:
        dur = float(v['duration'])
        centre = rng.uniform(0, dur, per_video)
        half = np.exp(rng.uniform(lo, hi, per_video)) / 2
        segs.append(np.stack([np.clip(centre - half, 0, dur), np.clip(centre + half, 0, dur)], 1))
        ids += [v['video_id']] * per_video
    dets = Detections(ids, np.concatenate(segs), rng.uniform(size=len(ids)),
                      rng.integers(0, num_classes, len(ids)))
    return 100 * float(evaluate_detections(videos, dets, TIOUS).average_mAP)


def class_agnostic_map(ann_file: str, detections_file: str, subset: str = 'Test') -> float:
    """Average mAP (%) of the dumped detections with every class merged into one
    ("action"): how well a run localises actions, whatever class it names."""
    from ..datasets.tal_annotation import load_tal_annotations
    from ..evaluation.detection_eval import Detections, evaluate_detections
    from ..evaluation.results_io import load_submission
    videos = load_tal_annotations(ann_file, subset)
    names = videos[0]['class_names']
    dets = load_submission(detections_file, names)
    merged = [dict(v, labels=np.zeros_like(v['labels']), class_names=['action'])
              for v in videos]
    dets = Detections(dets.video_ids, dets.segments, dets.scores,
                      np.zeros_like(dets.labels))
    return 100 * float(evaluate_detections(merged, dets, TIOUS, ['action']).average_mAP)


# ---------------------------------------------------------------- aggregation
def summarize_runs(runs: List[dict]) -> dict:
    """Mean / std over seeds of one strategy's runs (``mAP`` in percent)."""
    avg = np.array([r['average_mAP'] for r in runs])
    maps = np.array([r['mAP'] for r in runs])
    out = dict(
        average_mAP=float(avg.mean()),
        mAP=[float(x) for x in maps.mean(0)],
        peak_mem_mb=float(np.mean([r['peak_mem_mb'] for r in runs])),
        learnable_params=int(runs[0]['learnable_params']),
        train_time_s=float(np.mean([r['train_time_s'] for r in runs])),
        train_loss=float(np.mean([r.get('train_loss', {}).get('loss', np.nan) for r in runs])),
        class_agnostic_average_mAP=float(np.mean([r.get('class_agnostic_average_mAP', np.nan)
                                                  for r in runs])),
        average_mAP_std=float(avg.std(ddof=1)) if len(runs) > 1 else 0.0,
        average_mAP_min=float(avg.min()),
        average_mAP_max=float(avg.max()),
        mAP_std=[float(x) for x in (maps.std(0, ddof=1) if len(runs) > 1 else maps[0] * 0)],
        peak_mem_mb_std=float(np.std([r['peak_mem_mb'] for r in runs])),
        train_time_s_std=float(np.std([r['train_time_s'] for r in runs])),
        seeds=[r['seed'] for r in runs],
        per_seed=runs,
    )
    shares = [r['adapter_share'] for r in runs if r.get('adapter_share')]
    if shares:  # RMS of the adapters' output over that of F_N, on the test set
        out['adapter_share'] = {k: float(np.mean([s[k] for s in shares])) for k in shares[0]}
    off = [r['average_mAP_gates_off'] for r in runs if 'average_mAP_gates_off' in r]
    if off:  # LoSA re-tested with every gate at zero: the adapters' share of the result
        out['average_mAP_gates_off'] = float(np.mean(off))
    gates = [r['gates'] for r in runs if r.get('gates')]
    if gates:
        names = list(gates[0])
        out['gates'] = {n: float(np.mean([g[n] for g in gates])) for n in names}
        out['gates_std'] = {n: float(np.std([g[n] for g in gates])) for n in names}
    return out


def _run_result(raw: dict, seed: int) -> dict:
    metrics = raw['metrics']
    missing = [k for k in ['average_mAP'] + [f'mAP@{t:.2f}' for t in TIOUS] if k not in metrics]
    if missing:
        raise RuntimeError(f'the test metrics lack {missing}; got {sorted(metrics)}')
    off = raw.get('metrics_gates_off') or {}
    extra = ({'average_mAP_gates_off': 100 * off['average_mAP']}
             if 'average_mAP' in off else {})
    return dict(seed=seed, average_mAP=100 * metrics['average_mAP'], **extra,
                mAP=[100 * metrics[f'mAP@{t:.2f}'] for t in TIOUS],
                peak_mem_mb=raw['peak_mem_mb'], learnable_params=raw['learnable_params'],
                total_params=raw['total_params'], train_time_s=raw['train_time_s'],
                gates=raw.get('gates', {}), train_loss=raw.get('train_loss', {}),
                adapter_share=raw.get('adapter_share', {}))


def format_table(results: Dict[str, dict]) -> str:
    """Markdown table: mean ± std over seeds (min-max in brackets when several seeds)."""
    head = ('| strategy | avg mAP (%) | ' + ' | '.join(f'mAP@{t}' for t in TIOUS)
            + ' | peak train mem (MB) | learnable params | train time (s) | final train loss |')
    lines = [head, '|' + '---|' * (6 + len(TIOUS))]
    for name, r in results.items():
        if name.startswith('_'):
            continue
        n = len(r['seeds'])
        spread = (f' ± {r["average_mAP_std"]:.1f} [{r["average_mAP_min"]:.1f}–'
                  f'{r["average_mAP_max"]:.1f}]' if n > 1 else '')
        maps = ' | '.join(f'{m:.1f}' + (f' ± {s:.1f}' if n > 1 else '')
                          for m, s in zip(r['mAP'], r['mAP_std']))
        mem = f'{r["peak_mem_mb"]:.0f}' + (f' ± {r["peak_mem_mb_std"]:.0f}' if n > 1 else '')
        tt = f'{r["train_time_s"]:.0f}' + (f' ± {r["train_time_s_std"]:.0f}' if n > 1 else '')
        loss = r.get('train_loss', float('nan'))
        lines.append(f'| {name} | {r["average_mAP"]:.1f}{spread} | {maps} | {mem} | '
                     f'{r["learnable_params"]:,} | {tt} | {loss:.3f} |')
    return '\n'.join(lines)


def format_gates(gates: Dict[str, float], std: Optional[Dict[str, float]] = None) -> str:
    """``short/layer1 = 0.012 ± 0.003, ...`` one branch a line."""
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


def plot_results(results: Dict[str, dict], out_file: str) -> None:
    """Bar charts of average mAP (± std), peak memory and learnable params, and mAP
    against tIoU."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = [n for n in results if not n.startswith('_')]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    x = np.arange(len(names))
    axes[0].bar(x, [results[n]['average_mAP'] for n in names],
                yerr=[results[n]['average_mAP_std'] for n in names], capsize=4,
                color='tab:blue')
    axes[0].set_ylabel('average mAP (%), tIoU 0.3:0.1:0.7')
    for n, i in zip(names, x):
        seeds = [r['average_mAP'] for r in results[n]['per_seed']]
        axes[0].plot([i] * len(seeds), seeds, 'k.', ms=5)
    axes[1].bar(x, [results[n]['peak_mem_mb'] for n in names], color='tab:orange')
    axes[1].set_ylabel('peak training memory (MB, CPU RSS growth)')
    axes[2].bar(x, [results[n]['learnable_params'] / 1e6 for n in names], color='tab:green')
    axes[2].set_ylabel('learnable parameters (M)')
    for ax in axes[:3]:
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=30, ha='right')
    for n in names:
        axes[3].errorbar(TIOUS, results[n]['mAP'], yerr=results[n]['mAP_std'], marker='o',
                         capsize=3, label=n)
    axes[3].set_xlabel('tIoU')
    axes[3].set_ylabel('mAP (%)')
    axes[3].legend(fontsize=7)
    fig.suptitle('synthetic untrimmed-video TAL: head-only vs LoSA vs full fine-tuning')
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)


def plot_gates(gates: Dict[str, float], std: Dict[str, float], out_file: str,
               title: str = 'LoSA gates after training') -> None:
    """Gate value per adapted layer, short- and long-range branches."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for offset, branch in ((-0.2, 'short'), (0.2, 'long')):
        keys = [k for k in gates if k.startswith(branch + '/')]
        if not keys:
            continue
        layers = [k.split('/', 1)[1] for k in keys]
        x = np.arange(len(keys)) + offset
        ax.bar(x, [gates[k] for k in keys], width=0.4, yerr=[std.get(k, 0) for k in keys],
               capsize=3, label=branch)
        ax.set_xticks(np.arange(len(keys)))
        ax.set_xticklabels(layers)
    ax.axhline(0, color='k', lw=0.5)
    ax.set_xlabel('adapted layer (1-based block id)')
    ax.set_ylabel('gate value (zero at init)')
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------ main
def run_benchmark(out_dir: str,
                  quick: bool = False,
                  seeds: Optional[int] = None,
                  strategies: Sequence[str] = tuple(STRATEGIES),
                  ablations: Sequence[str] = (),
                  diagnostics: Sequence[str] = (),
                  tal_epochs: Optional[int] = None,
                  threads: Optional[int] = None,
                  jobs: Optional[int] = None,
                  shuffle_labels: bool = False,
                  probe: bool = False) -> dict:
    """Run the benchmark into ``out_dir``; returns the ``results.json`` content.

    Args:
        out_dir (str): output folder (data, pretraining, runs, results).
        quick (bool): the small mode (:data:`QUICK`) instead of :data:`FULL`.
        seeds (int, optional): training seeds (0..seeds-1); default from the mode.
        strategies (Sequence[str]): keys of :data:`STRATEGIES`.
        ablations (Sequence[str]): keys of :data:`ABLATIONS` (LoSA model deltas).
        diagnostics (Sequence[str]): keys of :data:`DIAGNOSTICS`.
        tal_epochs (int, optional): override the TAL epochs of the mode.
        threads (int, optional): torch threads per run; default from the mode.
        jobs (int, optional): TAL runs at a time; default from the mode.
        shuffle_labels (bool): train on permuted class labels (the floor measurement).
        probe (bool): fit linear probes of every block of the pretrained backbone on
            the trimmed clips (:mod:`layer_probe`) and store them under ``_meta``.
    """
    settings = QUICK if quick else FULL
    settings = replace(settings, seeds=seeds or settings.seeds,
                       tal_epochs=tal_epochs or settings.tal_epochs,
                       threads=threads or settings.threads, jobs=jobs or settings.jobs)
    bad = [s for s in strategies if s not in STRATEGIES]
    bad += [a for a in ablations if a not in ABLATIONS]
    bad += [d for d in diagnostics if d not in DIAGNOSTICS]
    if bad:
        raise ValueError(f'unknown strategies / ablations / diagnostics {bad}; strategies: '
                         f'{list(STRATEGIES)}, ablations: {list(ABLATIONS)}, diagnostics: '
                         f'{list(DIAGNOSTICS)}')
    logger = _logger()
    t_start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    data = prepare_data(osp.join(out_dir, 'data', settings.name), settings)
    t_data = time.perf_counter() - t_start
    ckpt = pretrain(osp.join(out_dir, 'pretrain', settings.name), data, settings)
    t_pretrain = time.perf_counter() - t_start - t_data
    probes = run_layer_probe(ckpt, data, settings.threads) if probe else None
    random_map = random_prediction_map(data['ann_file'])
    logger.info(f'random detections reach an average mAP of {random_map:.2f} % on this set')

    configs = {s: STRATEGIES[s] for s in strategies}
    configs.update({f'losa_{a}': ABLATIONS[a] for a in ablations})
    configs.update({d: DIAGNOSTICS[d] for d in diagnostics})
    jobs_list = [(seed, name, config) for seed in range(settings.seeds)
                 for name, config in configs.items()]
    total = len(jobs_list)
    counter = dict(started=0, done=0)
    lock = threading.Lock()

    def run_one(job) -> Tuple[str, dict]:
        seed, name, config = job
        work_dir = osp.join(out_dir, 'runs', settings.name, f'{name}_seed{seed}')
        det_file = osp.join(work_dir, 'detections.json')
        spec = dict(config=config, work_dir=work_dir, threads=settings.threads, test=True,
                    overrides=tal_overrides(data, ckpt, seed, settings.tal_epochs,
                                            shuffle_labels, det_file),
                    result=osp.join(work_dir, 'result.json'))
        raw = finished_run(spec, osp.join(work_dir, 'spec.json'), det_file)
        with lock:
            counter['started'] += 1
            what = ('reusing the finished run (same spec; delete its folder to retrain)'
                    if raw is not None else f'{settings.tal_epochs} epochs')
            logger.info(f'[start {counter["started"]}/{total}] {name} seed {seed}: {what} '
                        f'({osp.relpath(config, REPO_ROOT)})')
        if raw is None:
            raw = run_in_subprocess(spec, osp.join(work_dir, 'spec.json'))
        run = _run_result(raw, seed)
        run['class_agnostic_average_mAP'] = class_agnostic_map(data['ann_file'], det_file)
        with lock:
            counter['done'] += 1
            logger.info(f'[done {counter["done"]}/{total}] {name} seed {seed}: average mAP '
                        f'{run["average_mAP"]:.1f} %, peak train memory '
                        f'{run["peak_mem_mb"]:.0f} MB, {run["learnable_params"]:,} learnable, '
                        f'train {run["train_time_s"]:.0f} s, class-agnostic average mAP '
                        f'{run["class_agnostic_average_mAP"]:.1f} %, elapsed '
                        f'{time.perf_counter() - t_start:.0f} s')
            if run['gates']:
                logger.info(f'{name} seed {seed} gates:\n{format_gates(run["gates"])}')
            if run.get('adapter_share'):
                logger.info(f'{name} seed {seed}: adapter output RMS / F_N RMS on the test '
                            f'set: {format_adapter_share(run["adapter_share"])}')
            if 'average_mAP_gates_off' in run:
                logger.info(f'{name} seed {seed}: average mAP with every gate set to zero '
                            f'after training {run["average_mAP_gates_off"]:.2f} % (with the '
                            f'learned gates {run["average_mAP"]:.2f} %)')
        return name, run

    runs: Dict[str, List[dict]] = {name: [] for name in configs}
    # Runs are independent processes; `jobs` of them at a time share the cores.
    with ThreadPoolExecutor(max_workers=max(1, settings.jobs)) as pool:
        for name, run in pool.map(run_one, jobs_list):
            runs[name].append(run)
    for name in runs:
        runs[name].sort(key=lambda r: r['seed'])

    results: Dict[str, dict] = {name: summarize_runs(r) for name, r in runs.items()}
    results['_meta'] = dict(settings=asdict(settings), tious=list(TIOUS),
                            mAP_unit='percent', pretrained=ckpt,
                            shuffle_labels=shuffle_labels, layer_probe=probes,
                            random_predictions_average_mAP=random_map,
                            data_time_s=t_data, pretrain_time_s=t_pretrain,
                            wall_time_s=time.perf_counter() - t_start,
                            memory='peak RSS growth during runner.train(), fresh process '
                            'per run (PeakMemoryMeter)')
    write_outputs(results, out_dir)
    logger.info(f'results ({settings.seeds} seed(s)):\n{format_table(results)}')
    gated = {n: r for n, r in results.items() if not n.startswith('_') and r.get('gates')}
    for name, r in gated.items():
        logger.info(f'{name} gates (mean over seeds):\n{format_gates(r["gates"], r["gates_std"])}')
    logger.info(f'wall time {results["_meta"]["wall_time_s"]:.0f} s; outputs in {out_dir}')
    return results


def run_layer_probe(ckpt: str, data: Dict[str, str], threads: int = 1) -> Dict[str, float]:
    """Linear-probe val accuracy of every block of the pretrained backbone
    (``layer<id>/mean`` and ``layer<id>/grid``, see :mod:`layer_probe`)."""
    import torch

    import losa_plugin  # noqa: F401  (registration before mmaction.models)
    torch.set_num_threads(threads)
    from mmengine.config import Config
    from mmaction.registry import MODELS

    from .layer_probe import probe_layers
    cfg = Config.fromfile(STRATEGIES['losa'])
    bb_cfg = dict(cfg.model.backbone, pretrained=ckpt, tap_layers=None)
    backbone = MODELS.build(bb_cfg)
    backbone.init_weights()
    pre = cfg.model.data_preprocessor
    with open(osp.join(osp.dirname(data['train_list']), 'classes.txt')) as f:
        num_classes = len([line for line in f if line.strip()])
    acc = probe_layers(backbone, data['train_list'], data['val_list'], data['clip_dir'],
                       num_classes, pre['mean'], pre['std'])
    _logger().info('layer probes (val accuracy, chance %.2f): %s' % (
        1 / num_classes, ', '.join(f'{k} {v:.2f}' for k, v in acc.items())))
    return acc


def _map_as_fractions(value, key: str = ''):
    """A copy of ``results`` with every mAP figure (kept in percent for the tables and
    logs) turned into a fraction, as ``TALMetric`` and ``eval_results.py`` report it."""
    if isinstance(value, dict):
        return {k: _map_as_fractions(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_as_fractions(v, key) for v in value]
    if 'mAP' in key and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 100.0
    return value


def write_outputs(results: Dict[str, dict], out_dir: str) -> None:
    """``results.json`` (mAP as fractions), ``results.md`` (percent), ``results.png`` and
    (with LoSA) ``gates.png``."""
    with open(osp.join(out_dir, 'results.json'), 'w') as f:
        json.dump(_map_as_fractions(results), f, indent=1)
    md = [format_table(results)]
    for name, r in results.items():
        if not name.startswith('_') and r.get('gates'):
            md.append(f'\n{name} gates (mean ± std over seeds):\n\n```\n'
                      f'{format_gates(r["gates"], r["gates_std"])}\n```')
            if r.get('adapter_share'):
                md.append(f'\n{name} adapter output RMS / F_N RMS (test set; gated sums '
                          'per branch, then each ungated adapter): '
                          f'{format_adapter_share(r["adapter_share"])}')
            if 'average_mAP_gates_off' in r:
                md.append(f'\n{name} re-tested with every gate set to zero: average mAP '
                          f'{r["average_mAP_gates_off"]:.2f} % (learned gates: '
                          f'{r["average_mAP"]:.2f} %)')
    with open(osp.join(out_dir, 'results.md'), 'w') as f:
        f.write('\n'.join(md) + '\n')
    plot_results(results, osp.join(out_dir, 'results.png'))
    losa = results.get('losa') or next(
        (r for n, r in results.items() if not n.startswith('_') and r.get('gates')), None)
    if losa is not None and losa.get('gates'):
        plot_gates(losa['gates'], losa['gates_std'], osp.join(out_dir, 'gates.png'))
