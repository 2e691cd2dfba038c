"""Class-agnostic detections combined with an external video-level classifier.

The ActivityNet-v1.3 protocol of ActionFormer and OpenTAD: the detector is trained
with one class (every label mapped to 0); at test time each of a video's segments is
repeated for the top-k classes of a video-level classifier (k = 2 in both projects'
ActivityNet configs), with score = detection score x class score. The usual scores
are CUHK's ActivityNet-2017 classifier (``cuhk_val_simp_*.json``). The scores file
formats read here are documented in ``docs/evaluation.md``.
"""
import json
import math
import numbers
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import MMLogger

from .detection_eval import Detections
from .tie_order import rank_descending

FUSION_MODES = ('product', 'sqrt')
_SHOW = 5  # how many missing videos an error lists


class ExternalClassScores:
    """Video-level class scores, aligned to the evaluation's class list.

    Accepted file contents (JSON):

    * ``{"results": {video_id: [s_0, ..., s_{C-1}]}, "class": [name_0, ...]}``
      (CUHK / OpenTAD; ``"classes"`` also accepted): scores in the order of the
      file's class names, which must all be in ``class_names``;
    * the same without ``"class"``, or just the ``{video_id: [...]}`` mapping
      (ActionFormer): scores index ``class_names`` directly, so the list must have
      ``len(class_names)`` entries;
    * ``{"results": {video_id: [{"label": name, "score": s}, ...]}}`` (the
      ActivityNet classification submission format, as MMAction2's BMN tools read):
      classes not listed for a video cannot be chosen for it.

    A video is looked up as given, then with / without the ``v_`` prefix.

    Args:
        score_file (str): path to the JSON.
        class_names (Sequence[str]): the evaluation's classes (label index order).
        logger (MMLogger, optional): defaults to the current instance.
    """

    def __init__(self, score_file: str, class_names: Sequence[str],
                 logger: Optional[MMLogger] = None) -> None:
        self.score_file = score_file
        self.class_names = list(class_names)
        logger = logger or MMLogger.get_current_instance()
        try:
            with open(score_file) as f:
                content = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f'external class scores file not found: {score_file}') \
                from None
        except json.JSONDecodeError as e:
            raise ValueError(f'{score_file}: not valid JSON ({e})') from None
        if not isinstance(content, dict):
            raise ValueError(f'{score_file}: expected a JSON object mapping video ids to '
                             'class scores (see docs/evaluation.md)')
        results = content.get('results', content)
        file_classes = content.get('class', content.get('classes'))
        if not isinstance(results, dict) or not results:
            raise ValueError(f"{score_file}: 'results' must map video ids to class scores, "
                             f'got {type(results).__name__}')
        index = {name: i for i, name in enumerate(self.class_names)}
        columns = None
        if file_classes is not None:
            unknown = [c for c in file_classes if c not in index]
            if unknown:
                raise ValueError(f"{score_file}: 'class' holds {len(unknown)} names that are "
                                 f'not among the {len(index)} evaluation classes, e.g. '
                                 f'{unknown[:_SHOW]}')
            columns = np.array([index[c] for c in file_classes], dtype=np.int64)
            absent = len(index) - len(set(file_classes))
            if absent:
                logger.warning(f'{score_file}: {absent} evaluation classes have no score '
                               'column; they are never predicted')
        self.scores: Dict[str, np.ndarray] = {}
        for vid, value in results.items():
            self.scores[str(vid)] = self._parse(vid, value, columns, index)
        logger.info(f'{score_file}: class scores of {len(self.scores)} videos')

    def _parse(self, vid: str, value, columns: Optional[np.ndarray],
               index: Dict[str, int]) -> np.ndarray:
        """One video's entry as [C] float64 over ``class_names`` (-inf: no score)."""
        where = f"{self.score_file}: video '{vid}'"
        out = np.full(len(self.class_names), -np.inf)
        if not isinstance(value, list) or not value:
            raise ValueError(f'{where}: expected a non-empty list of class scores, got '
                             f'{value!r:.80}')
        if isinstance(value[0], dict):
            for k, entry in enumerate(value):
                if not (isinstance(entry, dict) and 'label' in entry and 'score' in entry):
                    raise ValueError(f'{where} entry {k}: expected {{"label", "score"}}, got '
                                     f'{entry!r:.80}')
                if entry['label'] not in index:
                    raise ValueError(f"{where} entry {k}: label {entry['label']!r} is not "
                                     'among the evaluation classes')
                out[index[entry['label']]] = _number(entry['score'], f'{where} entry {k}')
            return out
        expected = len(columns) if columns is not None else len(self.class_names)
        if len(value) != expected:
            source = "the file's 'class' list" if columns is not None else \
                'the evaluation classes (the file has no \'class\' list)'
            raise ValueError(f'{where}: {len(value)} scores, expected {expected} as in '
                             f'{source}')
        vec = np.array([_number(v, where) for v in value], dtype=np.float64)
        if columns is None:
            return vec
        out[columns] = vec
        return out

    def lookup(self, video_id: str) -> Optional[np.ndarray]:
        """[C] scores of ``video_id`` (also tried with / without ``v_``), or None."""
        for key in (video_id, f'v_{video_id}',
                    video_id[2:] if video_id.startswith('v_') else None):
            if key is not None and key in self.scores:
                return self.scores[key]
        return None

    def topk(self, video_id: str, k: int,
             tie_order: str = 'stable') -> Tuple[np.ndarray, np.ndarray]:
        """The ``k`` best classes of a video: (class indices [k'], scores [k']), best
        first, k' <= k when fewer classes have a score. Raises KeyError if unknown."""
        scores = self.lookup(video_id)
        if scores is None:
            raise KeyError(f"{self.score_file}: no class scores for video '{video_id}'")
        order = rank_descending(scores, tie_order)[:k]
        order = order[np.isfinite(scores[order])]
        return order, scores[order]


def fuse_class_scores(detections: Detections, class_scores: ExternalClassScores,
                      topk: int = 2, fusion: str = 'product', tie_order: str = 'stable',
                      logger: Optional[MMLogger] = None) -> Detections:
    """Give each video's class-agnostic detections the top-``k`` video-level classes.

    Args:
        detections (Detections): [P] detections; their labels are discarded (a
            class-agnostic detector predicts 0).
        class_scores (ExternalClassScores): the video-level scores.
        topk (int): classes per video. Default 2 (ActionFormer / OpenTAD).
        fusion (str): ``'product'``: detection x class score (OpenTAD's
            ``CUHKANETClassifier``); ``'sqrt'``: sqrt(detection x class score)
            (ActionFormer's ``postprocess_results``, OpenTAD's ``StandardClassifier``).
            Both rank a class's detections alike, so they give the same mAP.
        tie_order (str): how classes of equal video score are ranked.
        logger (MMLogger, optional): defaults to the current instance.

    Returns:
        Detections: per video (order of first appearance), for each of its top-k
        classes (best first), all its segments in input order: [V_k * P_v] entries.

    Raises:
        KeyError: naming the scores file, how many videos it lacks and a few of them.
    """
    if fusion not in FUSION_MODES:
        raise ValueError(f'fusion must be one of {FUSION_MODES}, got {fusion!r}')
    if not isinstance(topk, int) or topk < 1:
        raise ValueError(f'topk must be a positive int, got {topk!r}')
    logger = logger or MMLogger.get_current_instance()
    by_video: Dict[str, List[int]] = {}
    for i, vid in enumerate(detections.video_ids):
        by_video.setdefault(vid, []).append(i)
    missing = [v for v in by_video if class_scores.lookup(v) is None]
    if missing:
        raise KeyError(f'{class_scores.score_file}: no class scores for {len(missing)} of '
                       f'{len(by_video)} videos with detections, e.g. {missing[:_SHOW]}')
    video_ids: List[str] = []
    segments, scores, labels = [], [], []
    for vid, rows in by_video.items():
        rows_arr = np.asarray(rows, dtype=np.int64)
        det_scores = np.asarray(detections.scores, dtype=np.float64)[rows_arr]
        det_segs = np.asarray(detections.segments, dtype=np.float64).reshape(-1, 2)[rows_arr]
        classes, cls_scores = class_scores.topk(vid, topk, tie_order)
        for c, s in zip(classes, cls_scores):
            fused = det_scores * s
            if fusion == 'sqrt' and np.any(fused < 0):
                raise ValueError(f"fusion='sqrt' needs non-negative scores; video '{vid}' "
                                 f'has class score {s} and detection scores down to '
                                 f'{det_scores.min()}')
            scores.append(np.sqrt(fused) if fusion == 'sqrt' else fused)
            segments.append(det_segs)
            labels.append(np.full(len(rows_arr), c, dtype=np.int64))
            video_ids += [vid] * len(rows_arr)
    n_in_labels = len(np.unique(detections.labels))
    logger.info(f'fused {len(detections.scores)} detections of {len(by_video)} videos with '
                f'the top-{topk} classes of {class_scores.score_file} ({fusion}): '
                f'{len(video_ids)} detections'
                + (f'; the input had {n_in_labels} distinct labels, all replaced'
                   if n_in_labels > 1 else ''))
    if not video_ids:
        return Detections.empty()
    return Detections(video_ids, np.concatenate(segments), np.concatenate(scores),
                      np.concatenate(labels))


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f'{where}: class scores must be numbers, got {value!r}')
    return float(value)
