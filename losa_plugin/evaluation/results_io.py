"""Reading and writing detections in the ActivityNet submission format::

    {"version": str, "external_data": {},
     "results": {video_id: [{"label": str, "score": float, "segment": [start, end]}]}}

Segments are in seconds.
"""
import json
import math
import numbers
import os
from typing import Optional, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger

from losa_plugin.datasets.tal_annotation import load_tal_annotations
from .detection_eval import Detections, TALEvalResult, evaluate_detections


def _number(value, where: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f'{where}: {field!r} must be a number, got {value!r}')
    return float(value)


def load_submission(results_file: str, class_names: Sequence[str],
                    logger: Optional[MMLogger] = None) -> Detections:
    """Read a submission-format file into flat :class:`Detections`, file order.

    Args:
        results_file (str): path to the JSON.
        class_names (Sequence[str]): the evaluation's classes; a detection's label is
            its index here. Detections with other labels are dropped and counted in the
            log.
        logger (MMLogger, optional): defaults to the current instance.

    Returns:
        Detections.

    Raises:
        FileNotFoundError / ValueError: naming the file, video, entry and field of a
            malformed entry.
    """
    logger = logger or MMLogger.get_current_instance()
    try:
        with open(results_file) as f:
            content = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'results file not found: {results_file}') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{results_file}: not valid JSON ({e})') from None
    if not isinstance(content, dict) or not isinstance(content.get('results'), dict):
        raise ValueError(f"{results_file}: expected a JSON object whose 'results' maps "
                         'video ids to lists of detections (ActivityNet submission format)')

    index = {name: i for i, name in enumerate(class_names)}
    video_ids, segments, scores, labels = [], [], [], []
    unknown = {}
    for vid, entries in content['results'].items():
        if not isinstance(entries, list):
            raise ValueError(f"{results_file}: video '{vid}': expected a list of detections, "
                             f'got {type(entries).__name__}')
        for k, det in enumerate(entries):
            where = f"{results_file}: video '{vid}' detection {k}"
            if not isinstance(det, dict):
                raise ValueError(f'{where}: expected an object with label, score, segment, '
                                 f'got {det!r}')
            for field in ('label', 'score', 'segment'):
                if field not in det:
                    raise ValueError(f'{where}: missing field {field!r}')
            seg = det['segment']
            if not (isinstance(seg, (list, tuple)) and len(seg) == 2):
                raise ValueError(f"{where}: 'segment' must be [start, end] in seconds, "
                                 f'got {seg!r}')
            start = _number(seg[0], where, 'segment')
            end = _number(seg[1], where, 'segment')
            score = _number(det['score'], where, 'score')
            label = det['label']
            if label not in index:
                unknown[str(label)] = unknown.get(str(label), 0) + 1
                continue
            video_ids.append(str(vid))
            segments.append((start, end))
            scores.append(score)
            labels.append(index[label])
    if unknown:
        shown = ', '.join(f'{name!r} ({n})' for name, n in sorted(unknown.items())[:10])
        logger.warning(f'{results_file}: ignored {sum(unknown.values())} detections whose '
                       f'label is not among the {len(class_names)} classes: {shown}'
                       f"{' ...' if len(unknown) > 10 else ''}")
    if not video_ids:
        return Detections.empty()
    return Detections(video_ids=video_ids,
                      segments=np.asarray(segments, dtype=np.float64).reshape(-1, 2),
                      scores=np.asarray(scores, dtype=np.float64),
                      labels=np.asarray(labels, dtype=np.int64))


def dump_submission(out_file: str, detections: Detections, class_names: Sequence[str],
                    version: str = 'losa_plugin TALMetric') -> None:
    """Write ``detections`` in the submission format (videos in order of appearance)."""
    results = {}
    for vid, seg, score, label in zip(detections.video_ids, detections.segments,
                                      detections.scores, detections.labels):
        results.setdefault(vid, []).append(dict(
            label=class_names[int(label)], score=float(score),
            segment=[float(seg[0]), float(seg[1])]))
    out_dir = os.path.dirname(os.path.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    with open(out_file, 'w') as f:
        json.dump(dict(version=version, results=results, external_data={}), f)


def evaluate_submission(ann_file: str, results_file: str, subset: Union[str, Sequence[str]],
                        tiou_thresholds: Sequence[float],
                        class_names: Optional[Union[Sequence[str], str]] = None,
                        remove_duplicate_gt: bool = False,
                        logger: Optional[MMLogger] = None,
                        tie_order: str = 'stable') -> TALEvalResult:
    """mAP of a submission-format results file against an annotation file.

    Args:
        ann_file (str): ActivityNet-style ``database`` JSON.
        results_file (str): submission-format detections.
        subset (str | Sequence[str]): subset(s) of ``ann_file`` to evaluate.
        tiou_thresholds (Sequence[float]): [K].
        class_names (Sequence[str] | str, optional): class list or a file with one name
            a line; None derives it from ``ann_file``.
        remove_duplicate_gt (bool): drop duplicate ground truth. Default False.
        logger (MMLogger, optional): defaults to the current instance.
        tie_order (str): ``'stable'`` (equal scores in file order) or ``'numpy'``
            (the official evaluator's ``argsort()[::-1]``); see :mod:`.tie_order`.
    """
    logger = logger or MMLogger.get_current_instance()
    ground_truth = load_tal_annotations(ann_file, subset, class_names=class_names,
                                        remove_duplicates=remove_duplicate_gt)
    names = ground_truth[0]['class_names']
    detections = load_submission(results_file, names, logger=logger)
    return evaluate_detections(ground_truth, detections, tiou_thresholds, names,
                               logger=logger, tie_order=tie_order)
