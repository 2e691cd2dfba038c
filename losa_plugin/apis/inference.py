"""Temporal action localization on any video with a trained checkpoint.

``tools/infer.py`` is the command line; this module is the library behind it::

    model = init_tal_detector('configs/....py', 'work_dirs/.../epoch_10.pth', 'cpu')
    result = inference_tal_detector(model, 'my_video.mp4')
    result.segments, result.scores, result.labels   # [K, 2] s, [K], [K]

A video goes through exactly what ``tools/test.py`` runs on a test video: the config's
test dataset (its sliding windows, ``test_window``) and test pipeline, the model's
``test_step`` on batches of the test dataloader's size, then the config's
``TALMetric`` merging the windows (``merge_windows``: concatenation and ``merge_nms``).
To do so the video is described by a one-video annotation file written to a temporary
folder, so no window, pipeline or merging logic is repeated here.
"""
import json
import os
import os.path as osp
import tempfile
from functools import partial
from typing import Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import FUNCTIONS, init_default_scope
from torch import nn

from losa_plugin.datasets.class_list import DEFAULT_IGNORE_LABELS
from losa_plugin.datasets.tal_annotation import entry_fps, load_database, resolve_class_names
from losa_plugin.datasets.video_files import join_root
from losa_plugin.engine.frozen_backbone import load_tal_checkpoint

_SUBSET = 'infer'


class VideoDetections(NamedTuple):
    """Merged detections of one video, in the order ``tools/test.py`` writes them.

    Attributes:
        video_id (str): the id used in the results file.
        path (str): the video file (or frame folder).
        fps (float), duration (float): of the video (seconds).
        segments (np.ndarray): [K, 2] seconds.
        scores (np.ndarray): [K].
        labels (np.ndarray): [K] indices into ``class_names``.
        class_names (list[str]): the model's classes.
        num_windows (int): windows the video was cut into.
        gt_segments (np.ndarray | None): [G, 2] ground truth seconds, when given.
        gt_labels (np.ndarray | None): [G] class indices.
    """
    video_id: str
    path: str
    fps: float
    duration: float
    segments: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_names: List[str]
    num_windows: int
    gt_segments: Optional[np.ndarray] = None
    gt_labels: Optional[np.ndarray] = None

    def above(self, score_thr: float) -> 'VideoDetections':
        """The detections scoring at least ``score_thr``."""
        keep = self.scores >= score_thr
        return self._replace(segments=self.segments[keep], scores=self.scores[keep],
                             labels=self.labels[keep])

    def to_submission(self) -> List[dict]:
        """ActivityNet result entries ``{label, score, segment}``."""
        return [dict(label=self.class_names[int(c)], score=float(s),
                     segment=[float(a), float(b)])
                for (a, b), s, c in zip(self.segments, self.scores, self.labels)]


def _as_config(config: Union[str, Config], cfg_options: Optional[dict]) -> Config:
    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file not found: {config}')
        config = Config.fromfile(config)
    else:
        config = config.copy()
    if cfg_options:
        config.merge_from_dict(cfg_options)
    return config


def _tal_metric_cfg(cfg: Config) -> dict:
    """The test evaluator's TALMetric config (its ``merge_nms`` merges the windows)."""
    evaluators = cfg.get('test_evaluator') or {}
    evaluators = evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]
    for ev in evaluators:
        if isinstance(ev, dict) and 'TALMetric' in str(ev.get('type', '')):
            return dict(ev)
    return dict(type='TALMetric')


def model_class_names(cfg: Config, checkpoint_meta: Optional[dict] = None) -> List[str]:
    """The class list the model predicts into.

    Taken from the checkpoint's ``dataset_meta`` (mmengine stores the training
    dataset's ``classes``), else the config's ``class_names`` (test evaluator, then
    test dataset), else the test dataset's annotation file.

    Raises:
        ValueError: none of these gives a class list.
    """
    classes = ((checkpoint_meta or {}).get('dataset_meta') or {}).get('classes')
    if classes:
        return [str(c) for c in classes]
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    metric = _tal_metric_cfg(cfg)
    for names, root in ((metric.get('class_names'), metric.get('data_root', '')),
                        (dataset.get('class_names'), dataset.get('data_root', ''))):
        if names:  # a class file follows its config's data_root
            return resolve_class_names({}, join_root(names, root) if isinstance(names, str)
                                       else names)
    ann_file = dataset.get('ann_file')
    if ann_file and not osp.isabs(ann_file) and dataset.get('data_root'):
        ann_file = osp.join(dataset['data_root'], ann_file)
    if ann_file and osp.isfile(ann_file):
        return resolve_class_names(load_database(ann_file), None, ann_file)
    raise ValueError('cannot tell the class names: the checkpoint has no '
                     "meta['dataset_meta']['classes'], the config no class_names and its "
                     f'test annotation file {ann_file!r} does not exist; pass '
                     '--cfg-options test_evaluator.class_names=PATH_TO_CLASSES_TXT')


def init_tal_detector(config: Union[str, Config], checkpoint: str,
                      device: str = 'cpu', cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the config's model and load a full or trainable-only checkpoint.

    Returns:
        The model in eval mode on ``device``, with ``model.cfg`` and
        ``model.dataset_meta = dict(classes=[...])``.
    """
    cfg = _as_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    import losa_plugin  # noqa: F401  (registers the components)
    from mmaction.registry import MODELS
    model = MODELS.build(cfg.model)
    ckpt = load_tal_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    classes = model_class_names(cfg, ckpt.get('meta'))
    num_classes = getattr(getattr(model, 'head', None), 'num_classes', None)
    if num_classes is not None and len(classes) != num_classes:
        # fewer names: labels past the list; more: labels named after the wrong classes
        raise ValueError(f'{checkpoint}: the head predicts {num_classes} classes but the '
                         f'class list has {len(classes)}: {classes[:10]}'
                         f"{' ...' if len(classes) > 10 else ''}; give the list the model "
                         'was trained with (test_evaluator.class_names)')
    model.cfg = cfg
    model.dataset_meta = dict(classes=classes)
    return model.to(device).eval()


def _video_id(path: str) -> str:
    name = osp.basename(osp.normpath(path))
    return name if osp.isdir(path) else osp.splitext(name)[0]


def load_video_gt(ann_file: str, video_id: str, class_names: Sequence[str],
                  file_prefix: str = '') -> Optional[dict]:
    """The annotation entry of a video: ``video_id`` (as in the file), ``fps``,
    ``duration``, ``segments`` [G, 2], ``labels`` [G] (indices into ``class_names``),
    or None when the file has no such video. ``file_prefix`` (e.g. ActivityNet's
    ``'v_'``) is tried removed from the id. Labels outside ``class_names`` are dropped
    with a warning (``Ambiguous`` silently: it is not a class). ``fps`` is the file's
    field or its frame count over the duration (OpenTAD, MMAction2), else None."""
    database = load_database(ann_file)
    ids = [video_id] + ([video_id[len(file_prefix):]]
                        if file_prefix and video_id.startswith(file_prefix) else [])
    vid = next((i for i in ids if i in database), None)
    if vid is None:
        return None
    entry = database[vid]
    index = {n: i for i, n in enumerate(class_names)}
    segs, labels, unknown = [], [], set()
    for ann in entry.get('annotations', []):
        if ann.get('label') in DEFAULT_IGNORE_LABELS:
            continue
        if ann.get('label') not in index:
            unknown.add(str(ann.get('label')))
            continue
        segs.append([float(ann['segment'][0]), float(ann['segment'][1])])
        labels.append(index[ann['label']])
    if unknown:
        MMLogger.get_current_instance().warning(
            f"{ann_file}: video '{vid}': ground-truth labels not among the model's "
            f'classes left out: {sorted(unknown)}')
    return dict(video_id=vid, fps=entry_fps(entry)[0], duration=entry.get('duration'),
                segments=np.asarray(segs, np.float64).reshape(-1, 2),
                labels=np.asarray(labels, np.int64))


def _collate_fn(cfg: Config):
    collate = dict((cfg.get('test_dataloader') or {}).get('collate_fn')
                   or dict(type='pseudo_collate'))
    fn = collate.pop('type')
    fn = FUNCTIONS.get(fn) if isinstance(fn, str) else fn
    if fn is None:
        raise ValueError(f'test_dataloader.collate_fn: unknown function {collate}')
    return partial(fn, **collate)


def inference_tal_detector(model: nn.Module, video: str, gt: Optional[dict] = None,
                           progress: bool = True) -> VideoDetections:
    """Detect actions in one video (a file, or a folder of frames).

    Args:
        model: from :func:`init_tal_detector`.
        video: path of the video.
        gt: the video's annotation entry (:func:`load_video_gt`); its id, ``fps`` and
            ``duration`` are used as ``tools/test.py`` uses the annotation file's.
        progress: show a progress bar over the video's windows.

    Returns:
        :class:`VideoDetections`, merged over windows (``tools/test.py``'s order).
    """
    from mmaction.registry import DATASETS, METRICS
    cfg = model.cfg
    if not osp.exists(video):
        raise FileNotFoundError(f'video not found: {video}')
    dataset_cfg = dict((cfg.get('test_dataloader') or {}).get('dataset') or {})
    if not dataset_cfg:
        raise ValueError('the config has no test_dataloader.dataset to take the test '
                         'windows and pipeline from')
    if dataset_cfg.get('input_type', 'feature') != 'video':
        raise ValueError(f"the config's test dataset reads pre-extracted features "
                         f"(input_type={dataset_cfg.get('input_type', 'feature')!r}); "
                         'tools/infer.py needs a config that runs on raw video '
                         "(input_type='video')")
    classes = list(model.dataset_meta['classes'])
    video = osp.abspath(video)
    vid = gt['video_id'] if gt else _video_id(video)
    entry: Dict[str, object] = dict(subset=_SUBSET, annotations=[])
    for key in ('fps', 'duration'):
        if gt and gt.get(key) is not None:
            entry[key] = gt[key]
    is_dir = osp.isdir(video)
    ext = '' if is_dir else osp.splitext(video)[1]
    with tempfile.TemporaryDirectory(prefix='losa_infer_') as tmp:
        ann_file = osp.join(tmp, 'annotation.json')
        with open(ann_file, 'w') as f:
            json.dump(dict(database={vid: entry}), f)
        # the video must be found at data_prefix/<file_prefix><video_id><ext>
        link_dir = osp.join(tmp, 'videos')
        os.makedirs(link_dir)
        os.symlink(video, osp.join(link_dir, vid + ext))
        dataset_cfg.update(ann_file=ann_file, subset=_SUBSET, data_root='',
                           data_prefix=dict(video=link_dir), file_prefix='',
                           video_ext=ext, class_names=classes, test_mode=True,
                           filter_empty_gt=False, lazy_init=False)
        dataset = DATASETS.build(dataset_cfg)
        metric = METRICS.build(dict(_tal_metric_cfg(cfg), ann_file=ann_file,
                                    subset=_SUBSET, class_names=classes, out_file=None,
                                    prefix='infer'))
        batch_size = int((cfg.get('test_dataloader') or {}).get('batch_size', 1))
        collate = _collate_fn(cfg)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(dataset), desc=vid, unit='window', leave=True)
        fps = duration = None
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                items = [dataset[i] for i in range(start, min(start + batch_size,
                                                              len(dataset)))]
                outputs = model.test_step(collate(items))
                metric.process(None, outputs)
                meta = outputs[0].metainfo
                fps, duration = float(meta['fps']), meta.get('duration')
                if bar is not None:
                    bar.update(len(items))
        if bar is not None:
            bar.close()
        detections = metric.merge_windows(metric.results)
    duration = float(duration) if duration is not None else float('nan')
    return VideoDetections(
        video_id=vid, path=video, fps=fps, duration=duration,
        segments=detections.segments.reshape(-1, 2), scores=detections.scores,
        labels=detections.labels,
        class_names=classes, num_windows=len(dataset),
        gt_segments=None if gt is None else gt['segments'],
        gt_labels=None if gt is None else gt['labels'])
