"""mAP of a set of detections against annotation-file ground truth, over classes and
tIoU thresholds (ActivityNet protocol), and a per-class report table.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger

from .interpolated_ap import average_precision_detection


class Detections(NamedTuple):
    """Flat detections in file order (the order decides how score ties rank).

    Attributes:
        video_ids (list[str]): [P] video of each detection.
        segments (np.ndarray): [P, 2] float64 seconds.
        scores (np.ndarray): [P] float64.
        labels (np.ndarray): [P] int64 class index into the evaluation's class list.
    """
    video_ids: List[str]
    segments: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls) -> 'Detections':
        return cls([], np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=np.int64))


class TALEvalResult(NamedTuple):
    """Outcome of :func:`evaluate_detections`.

    Attributes:
        tious (np.ndarray): [K] thresholds.
        class_ids (np.ndarray): [C] classes present in the ground truth, in the order
            of their first ground-truth segment in the file (the averaging order of
            the official evaluator).
        class_names (list[str]): [C] their names.
        ap (np.ndarray): [K, C] AP per threshold and class.
        num_gt (np.ndarray): [C] ground-truth segments per class.
        num_pred (np.ndarray): [C] detections per class.
        mAP (np.ndarray): [K] mean over classes.
        average_mAP (float): mean of ``mAP`` over thresholds.
    """
    tious: np.ndarray
    class_ids: np.ndarray
    class_names: List[str]
    ap: np.ndarray
    num_gt: np.ndarray
    num_pred: np.ndarray
    mAP: np.ndarray
    average_mAP: float

    def metrics(self) -> Dict[str, float]:
        """``{'mAP@0.50': ..., 'average_mAP': ...}`` as fractions."""
        out = {f'mAP@{t:.2f}': float(m) for t, m in zip(self.tious, self.mAP)}
        out['average_mAP'] = float(self.average_mAP)
        return out


def evaluate_detections(ground_truth: Sequence[dict], detections: Detections,
                        tiou_thresholds: Sequence[float],
                        class_names: Optional[Sequence[str]] = None,
                        logger: Optional[MMLogger] = None) -> TALEvalResult:
    """ActivityNet-style mAP of ``detections``.

    Args:
        ground_truth (list[dict]): videos as returned by
            :func:`losa_plugin.datasets.tal_annotation.load_tal_annotations`
            (``video_id``, ``segments`` [N, 2] s, ``labels`` [N], ``class_names``).
        detections (Detections): predictions, file order; labels index the same class
            list as the ground truth.
        tiou_thresholds (Sequence[float]): [K].
        class_names (Sequence[str], optional): names for the report; defaults to the
            ground truth's ``class_names``.
        logger (MMLogger, optional): for the count of ignored detections.

    Returns:
        TALEvalResult. Detections on videos without ground truth of their class are
        false positives; detections of classes without ground truth are ignored (and
        counted in the log); classes without detections score AP 0.
    """
    logger = logger or MMLogger.get_current_instance()
    tious = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if tious.size == 0 or np.any((tious <= 0) | (tious > 1)):
        raise ValueError(f'tiou_thresholds must be non-empty values in (0, 1], got '
                         f'{list(tiou_thresholds)}')
    if class_names is None:
        class_names = ground_truth[0]['class_names'] if ground_truth else []

    # Ground truth flattened in file order; classes ordered by first appearance.
    video_index = {v['video_id']: i for i, v in enumerate(ground_truth)}
    gt_vid = np.concatenate([np.full(len(v['labels']), i, dtype=np.int64)
                             for i, v in enumerate(ground_truth)] or [np.zeros(0, np.int64)])
    gt_seg = np.concatenate([np.asarray(v['segments'], np.float64).reshape(-1, 2)
                             for v in ground_truth] or [np.zeros((0, 2))])
    gt_lab = np.concatenate([np.asarray(v['labels'], np.int64) for v in ground_truth]
                            or [np.zeros(0, np.int64)])
    _, first = np.unique(gt_lab, return_index=True)
    class_ids = gt_lab[np.sort(first)]
    if class_ids.size == 0:
        raise ValueError('evaluate_detections: the ground truth holds no segment')

    n_det = len(detections.scores)
    if not (len(detections.video_ids) == len(detections.segments) == len(detections.labels)
            == n_det):
        raise ValueError('evaluate_detections: video_ids, segments, scores and labels must '
                         'have one entry per detection')
    det_vid = np.array([video_index.get(v, -1) for v in detections.video_ids], dtype=np.int64)
    det_lab = np.asarray(detections.labels, dtype=np.int64).reshape(-1)
    det_seg = np.asarray(detections.segments, dtype=np.float64).reshape(-1, 2)
    det_sc = np.asarray(detections.scores, dtype=np.float64).reshape(-1)
    n_ignored = int(np.count_nonzero(~np.isin(det_lab, class_ids)))
    if n_ignored:
        logger.info(f'evaluate_detections: ignored {n_ignored} of {n_det} detections whose '
                    'class has no ground truth in this subset')

    ap = np.zeros((len(tious), len(class_ids)))
    num_gt = np.zeros(len(class_ids), dtype=np.int64)
    num_pred = np.zeros(len(class_ids), dtype=np.int64)
    for c, cls in enumerate(class_ids):
        g, d = gt_lab == cls, det_lab == cls
        num_gt[c], num_pred[c] = g.sum(), d.sum()
        ap[:, c] = average_precision_detection(gt_vid[g], gt_seg[g], det_vid[d], det_seg[d],
                                               det_sc[d], tious)
    mAP = ap.mean(axis=1)
    return TALEvalResult(tious=tious, class_ids=class_ids,
                         class_names=[str(class_names[i]) for i in class_ids], ap=ap,
                         num_gt=num_gt, num_pred=num_pred, mAP=mAP,
                         average_mAP=float(mAP.mean()))


def format_ap_table(result: TALEvalResult) -> str:
    """A plain-text table: AP (%) per class (rows, sorted by class id) and tIoU, then the
    mAP row and the average over thresholds."""
    head = ['class', '#gt', '#pred'] + [f'{t:.2f}' for t in result.tious] + ['avg']
    rows = []
    for c in np.argsort(result.class_ids, kind='stable'):
        aps = result.ap[:, c]
        rows.append([result.class_names[c], str(result.num_gt[c]), str(result.num_pred[c])] +
                    [f'{100 * a:.2f}' for a in aps] + [f'{100 * aps.mean():.2f}'])
    rows.append(['mAP', str(result.num_gt.sum()), str(result.num_pred.sum())] +
                [f'{100 * m:.2f}' for m in result.mAP] + [f'{100 * result.average_mAP:.2f}'])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def fmt(r: List[str]) -> str:
        return '  '.join([r[0].ljust(widths[0])] + [x.rjust(w) for x, w in zip(r[1:], widths[1:])])

    rule = '-' * len(fmt(head))
    return '\n'.join([fmt(head), rule] + [fmt(r) for r in rows[:-1]] + [rule, fmt(rows[-1])])
