"""The steps of the synthetic benchmark, each a process: data generation, pretraining and
TAL runs (their specs and config overrides), plus the reference levels of a test set
(random detections, class-agnostic mAP).

Every mAP returned here is a fraction, as ``TALMetric`` reports it.
"""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from .benchmark_report import TIOUS
from .regimes import REPO_ROOT, Regime

PRETRAIN_CONFIG = osp.join(REPO_ROOT, 'configs', 'synthetic',
                           'pretrain_vit-tiny_synthetic-trimmed.py')


def trimmed_dir(data_dir: str, regime: Regime) -> str:
    """The pretraining clips' folder under ``data_dir``, named by their generator config:
    regimes that pretrain on the same clips share one folder (generated once)."""
    cfg = json.dumps(regime.pretrain_cfg().to_dict(), sort_keys=True)
    return osp.join(data_dir, f'trimmed-{hashlib.sha1(cfg.encode()).hexdigest()[:8]}')


def data_paths(untrimmed_dir: str, clips_dir: str, num_classes: int) -> Dict[str, object]:
    """Where a regime's generated sets live."""
    return dict(ann_file=osp.join(untrimmed_dir, 'annotations.json'),
                video_dir=osp.join(untrimmed_dir, 'videos'),
                train_list=osp.join(clips_dir, 'train_list.txt'),
                val_list=osp.join(clips_dir, 'val_list.txt'),
                clip_dir=osp.join(clips_dir, 'clips'),
                num_classes=num_classes)


#: the TAL-class probe clips' generator seed is the data seed plus this (where the TAL
#: classes and look equal the pretraining's, the same seed would render the same clips)
PROBE_SEED_OFFSET = 1_000_000


def generate_spec(regime: Regime, what: str, out_dir: str, num: int, seed: int) -> dict:
    """Spec of one data-generation process (``benchmark_run``, ``kind='generate'``)
    writing ``what`` into ``out_dir``: ``'untrimmed'`` (the TAL videos), ``'trimmed'``
    (the pretraining clips) or ``'tal_trimmed'`` (trimmed clips of the TAL classes in the
    TAL videos' look, for the qualification's probe)."""
    cfg = regime.pretrain_cfg() if what == 'trimmed' else regime.tal_cfg()
    if what == 'tal_trimmed':  # clips of their own, not the pretraining's
        what, seed = 'trimmed', int(seed) + PROBE_SEED_OFFSET
    return dict(kind='generate', what=what, out_dir=out_dir, num=int(num), seed=int(seed),
                cfg=cfg.to_dict(), result=out_dir + '_result.json')


def schedule_overrides(max_epochs: int, warmup_epochs: int,
                       decay_from: Optional[int] = None, warmup: str = 'ClosedFormLinearLR',
                       start_factor: float = 0.0) -> dict:
    """Epoch count with a linear warm-up (from ``start_factor`` x lr), a constant lr up to
    ``decay_from`` (default: right after the warm-up) and a cosine decay to 1e-6 over the
    rest, and the matching final checkpoint."""
    if max_epochs < 1:
        raise ValueError(f'max_epochs must be >= 1, got {max_epochs}')
    warmup_epochs = min(warmup_epochs, max_epochs - 1)
    decay_from = warmup_epochs if decay_from is None else decay_from
    if not warmup_epochs <= decay_from < max_epochs:
        raise ValueError(f'decay_from={decay_from} must lie in [{warmup_epochs}, '
                         f'{max_epochs}) (after the warm-up, before the end)')
    schedule = [dict(type=warmup, start_factor=start_factor, by_epoch=True, begin=0,
                     end=warmup_epochs, convert_to_iter_based=True)] if warmup_epochs else []
    schedule.append(dict(type='CosineAnnealingLR', T_max=max_epochs - decay_from, eta_min=1e-6,
                         by_epoch=True, begin=decay_from, end=max_epochs,
                         convert_to_iter_based=True))
    return {
        'train_cfg.max_epochs': max_epochs,
        'param_scheduler': schedule,
        'default_hooks.checkpoint.interval': max_epochs,
    }


def pretrain_spec(regime: Regime, data: Dict[str, object], work_dir: str, max_epochs: int,
                  hold_epochs: int, decay_epochs: int, seed: int, threads: int) -> dict:
    """Spec of the recognizer pretraining of ``regime``: validated every epoch (its result
    holds the val top-1 curve), a 2-epoch warm-up, then :class:`TakeoffLRSchedule`
    (constant lr until the take-off, ``hold_epochs`` more, a cosine decay over
    ``decay_epochs``, stop; at most ``max_epochs``). The last checkpoint is named in
    ``work_dir/last_checkpoint``."""
    overrides = {'log_level': 'INFO', 'randomness.seed': int(seed),
                 'model.cls_head.num_classes': data['num_classes'],
                 'train_cfg.max_epochs': int(max_epochs), 'train_cfg.val_interval': 1,
                 'custom_hooks': [dict(type='TakeoffLRSchedule', takeoff=0.5,
                                       hold_epochs=int(hold_epochs),
                                       decay_epochs=int(decay_epochs))],
                 'param_scheduler': [dict(type='LinearLR', start_factor=0.01, by_epoch=True,
                                          begin=0, end=min(2, max_epochs),
                                          convert_to_iter_based=True)]}
    if regime.pretrain_config is not None:  # its own config sets its heads' class counts
        del overrides['model.cls_head.num_classes']
    overrides.update(regime.pretrain_model_overrides())
    for split, ann in (('train', data['train_list']), ('val', data['val_list']),
                       ('test', data['val_list'])):
        overrides[f'{split}_dataloader.dataset.ann_file'] = ann
        overrides[f'{split}_dataloader.dataset.data_prefix.video'] = data['clip_dir']
    return dict(config=regime.pretrain_config or PRETRAIN_CONFIG, work_dir=work_dir,
                overrides=overrides, threads=int(threads), test=False,
                result=osp.join(work_dir, 'result.json'))


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint mmengine's ``last_checkpoint`` file in ``work_dir`` names, if any."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def tal_overrides(data: Dict[str, object], pretrained: Optional[str], seed: int,
                  max_epochs: int, shuffle_labels: bool = False,
                  detections_file: Optional[str] = None) -> dict:
    """Dotted-key overrides pointing a synthetic TAL config at the generated data
    (and, with ``detections_file``, dumping the test detections there). With
    ``data['num_classes']`` the head's class count follows the data."""
    ann = data['ann_file']
    out = {'model.backbone.pretrained': pretrained, 'randomness.seed': int(seed),
           'log_level': 'INFO'}
    if 'num_classes' in data:
        out['model.head.num_classes'] = data['num_classes']
    for split in ('train', 'val', 'test'):
        out[f'{split}_dataloader.dataset.ann_file'] = ann
        out[f'{split}_dataloader.dataset.data_prefix.video'] = data['video_dir']
    for split in ('val', 'test'):
        out[f'{split}_evaluator.ann_file'] = ann
    if detections_file is not None:
        out['test_evaluator.out_file'] = detections_file
    out.update(schedule_overrides(max_epochs, 1))
    # no validation pass at the end of training (mmengine validates the last epoch
    # whatever val_interval says): the test pass that follows is the evaluation
    out['train_cfg.val_begin'] = max_epochs + 1
    if shuffle_labels:
        out['train_dataloader.dataset.ann_file'] = shuffled_label_file(ann, seed)
    return out


def console_log_path(spec: dict) -> str:
    """Where a step process's console output goes: ``console.log`` in a run's work dir
    (beside mmengine's own log), ``<out_dir>_console.log`` beside a generated set."""
    if spec.get('kind') == 'generate':
        return spec['out_dir'] + '_console.log'
    return osp.join(spec['work_dir'], 'console.log')


def run_in_subprocess(spec: dict, spec_file: str, log_file: Optional[str] = None) -> dict:
    """Run :mod:`benchmark_run` on ``spec`` in a fresh process; returns its result dict
    with ``cpu_time_s`` (user + system time of the process and the data workers it
    waited for) and ``wall_time_s`` added (also written back to the result file).

    Its output (stdout and stderr) goes to ``log_file``, or with None to this process's
    stdout. Raises RuntimeError on failure, with the end of that log."""
    os.makedirs(osp.dirname(spec_file), exist_ok=True)
    with open(spec_file, 'w') as f:
        json.dump(spec, f, indent=1)
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', str(spec.get('threads', 1)))
    cmd = [sys.executable, '-m', 'losa_plugin.synthetic.benchmark_run', spec_file]
    t0 = time.perf_counter()
    if log_file is not None:
        os.makedirs(osp.dirname(log_file) or '.', exist_ok=True)
    with open(log_file or os.devnull, 'w') as log:
        out = None if log_file is None else log
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out,
                                stderr=None if out is None else subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        what = spec.get('config') or f'generate {spec.get("what")}'
        where = 'its log above' if log_file is None else f'{log_file}, ending:\n' + \
            ''.join(_tail(log_file, 30))
        raise RuntimeError(f'run {what} (spec {spec_file}) failed with exit code '
                           f'{proc.returncode}; see {where}')
    with open(spec['result']) as f:
        result = json.load(f)
    result['cpu_time_s'] = usage.ru_utime + usage.ru_stime
    result['wall_time_s'] = time.perf_counter() - t0
    with open(spec['result'], 'w') as f:
        json.dump(result, f, indent=1)
    return result


def _tail(path: str, lines: int) -> List[str]:
    with open(path, errors='replace') as f:
        return f.readlines()[-lines:]


def finished_run(spec: dict, spec_file: str, *outputs: str) -> Optional[dict]:
    """The result of an earlier run with exactly this spec (config, overrides, threads,
    cache mode), or None. Lets an interrupted or extended benchmark (more ablations,
    seeds) skip the runs it already has."""
    if not all(osp.isfile(f) for f in (spec_file, spec['result']) + outputs):
        return None
    with open(spec_file) as f:
        if json.load(f) != json.loads(json.dumps(spec)):
            return None
    with open(spec['result']) as f:
        return json.load(f)


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
                          seed: int = 0, class_agnostic: bool = False) -> float:
    """Average mAP (fraction) of random detections: ``per_video`` segments per test video
    with uniform centres, log-uniform lengths over the ground truth's length range, random
    classes and scores. The level a pipeline whose outputs ignore the video reaches;
    ``class_agnostic=True`` scores the same detections with every class merged into one
    (the level :func:`class_agnostic_map` is compared with)."""
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
    if class_agnostic:
        return _class_agnostic_average_map(videos, dets)
    return float(evaluate_detections(videos, dets, TIOUS).average_mAP)


def _class_agnostic_average_map(videos: List[dict], dets) -> float:
    """Average mAP (fraction) of ``dets`` against ``videos`` with every class of both
    merged into one ("action")."""
    from ..evaluation.detection_eval import Detections, evaluate_detections
    merged = [dict(v, labels=np.zeros_like(v['labels']), class_names=['action'])
              for v in videos]
    dets = Detections(dets.video_ids, dets.segments, dets.scores, np.zeros_like(dets.labels))
    return float(evaluate_detections(merged, dets, TIOUS, ['action']).average_mAP)


def per_class_average_ap(ann_file: str, detections_file: str,
                         subset: str = 'Test') -> Dict[str, float]:
    """AP (fraction) of each class of the dumped detections, averaged over the tIoU
    thresholds: which classes a run localises (e.g. those seen in pretraining or not)."""
    from ..datasets.tal_annotation import load_tal_annotations
    from ..evaluation.detection_eval import evaluate_detections
    from ..evaluation.results_io import load_submission
    videos = load_tal_annotations(ann_file, subset)
    dets = load_submission(detections_file, videos[0]['class_names'])
    result = evaluate_detections(videos, dets, TIOUS)
    return {name: float(result.ap[:, c].mean()) for c, name in enumerate(result.class_names)}


def class_agnostic_map(ann_file: str, detections_file: str, subset: str = 'Test') -> float:
    """Average mAP (fraction) of the dumped detections with every class merged into one
    ("action"): how well a run localises actions, whatever class it names."""
    from ..datasets.tal_annotation import load_tal_annotations
    from ..evaluation.results_io import load_submission
    videos = load_tal_annotations(ann_file, subset)
    dets = load_submission(detections_file, videos[0]['class_names'])
    return _class_agnostic_average_map(videos, dets)
