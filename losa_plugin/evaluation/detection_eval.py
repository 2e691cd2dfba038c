"""mAP of a set of detections against annotation-file ground truth, over classes and
tIoU thresholds (ActivityNet protocol), and a per-class report table.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger

from .interpolated_ap import ClassMatch, ap_from_flags, match_class
from .tie_order import check_tie_order, count_ties
from .tie_span import tie_extreme_flags


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


class FlatGroundTruth(NamedTuple):
    """Ground truth of a subset flattened in file order.

    Attributes:
        video_ids (list[str]): [V] videos, file order.
        video (np.ndarray): [G] video index of each segment.
        segments (np.ndarray): [G, 2] float64 seconds.
        labels (np.ndarray): [G] int64 class index.
        class_ids (np.ndarray): [C] classes present, in order of first appearance.
    """
    video_ids: List[str]
    video: np.ndarray
    segments: np.ndarray
    labels: np.ndarray
    class_ids: np.ndarray


def flatten_ground_truth(ground_truth: Sequence[dict]) -> FlatGroundTruth:
    """Flatten :func:`load_tal_annotations` output; classes ordered by first appearance
    (the averaging order of the official evaluator)."""
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
    return FlatGroundTruth([v['video_id'] for v in ground_truth], gt_vid, gt_seg, gt_lab,
                           class_ids)


class ClassResult(NamedTuple):
    """One class's share of :func:`match_all_classes`.

    Attributes:
        gt_index (np.ndarray): [G_c] rows of the flat ground truth of this class.
        det_index (np.ndarray): [P_c] indices of this class's detections in
            ``Detections`` (file order).
        match (ClassMatch): ranking (into ``det_index``) and matches (into
            ``gt_index``).
    """
    gt_index: np.ndarray
    det_index: np.ndarray
    match: ClassMatch


def match_all_classes(flat_gt: FlatGroundTruth, detections: Detections,
                      tiou_thresholds: Sequence[float], tie_order: str = 'stable',
                      logger: Optional[MMLogger] = None) -> List[ClassResult]:
    """Rank and match the detections of every ground-truth class (``flat_gt.class_ids``
    order). Detections on videos without ground truth are false positives; detections
    of classes without ground truth are left out (and counted in the log)."""
    logger = logger or MMLogger.get_current_instance()
    check_tie_order(tie_order)
    n_det = len(detections.scores)
    if not (len(detections.video_ids) == len(detections.segments) == len(detections.labels)
            == n_det):
        raise ValueError('evaluate_detections: video_ids, segments, scores and labels must '
                         'have one entry per detection')
    video_index = {v: i for i, v in enumerate(flat_gt.video_ids)}
    det_vid = np.array([video_index.get(v, -1) for v in detections.video_ids], dtype=np.int64)
    det_lab = np.asarray(detections.labels, dtype=np.int64).reshape(-1)
    det_seg = np.asarray(detections.segments, dtype=np.float64).reshape(-1, 2)
    det_sc = np.asarray(detections.scores, dtype=np.float64).reshape(-1)
    if np.isnan(det_sc).any():
        raise ValueError(f'evaluate_detections: {int(np.isnan(det_sc).sum())} detection '
                         'scores are NaN')
    n_ignored = int(np.count_nonzero(~np.isin(det_lab, flat_gt.class_ids)))
    if n_ignored:
        logger.info(f'evaluate_detections: ignored {n_ignored} of {n_det} detections whose '
                    'class has no ground truth in this subset')
    out = []
    for cls in flat_gt.class_ids:
        g, d = np.flatnonzero(flat_gt.labels == cls), np.flatnonzero(det_lab == cls)
        out.append(ClassResult(g, d, match_class(
            flat_gt.video[g], flat_gt.segments[g], det_vid[d], det_seg[d], det_sc[d],
            tiou_thresholds, tie_order)))
    return out


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
        tie_order (str): the ranking of equal scores used (``'stable'`` / ``'numpy'``).
        num_tied (int): detections (of the evaluated classes) whose score equals that
            of another detection of their class.
        num_tie_groups (int): distinct (class, score) values shared by several.
        mAP_pessimistic (np.ndarray): [K] mAP with false positives first within each
            block of tied scores (re-matched, see :mod:`.tie_span`).
        mAP_optimistic (np.ndarray): [K] the same with true positives first.
    """
    tious: np.ndarray
    class_ids: np.ndarray
    class_names: List[str]
    ap: np.ndarray
    num_gt: np.ndarray
    num_pred: np.ndarray
    mAP: np.ndarray
    average_mAP: float
    tie_order: str = 'stable'
    num_tied: int = 0
    num_tie_groups: int = 0
    mAP_pessimistic: Optional[np.ndarray] = None
    mAP_optimistic: Optional[np.ndarray] = None

    def metrics(self) -> Dict[str, float]:
        """``{'mAP@0.50': ..., 'average_mAP': ...}`` as fractions."""
        out = {f'mAP@{t:.2f}': float(m) for t, m in zip(self.tious, self.mAP)}
        out['average_mAP'] = float(self.average_mAP)
        return out

    def tie_report(self) -> Dict[str, object]:
        """Ties and the mAP span they allow, as plain numbers (fractions)."""
        return dict(tie_order=self.tie_order, num_tied=self.num_tied,
                    num_tie_groups=self.num_tie_groups,
                    mAP_pessimistic=[float(m) for m in self.mAP_pessimistic],
                    mAP_optimistic=[float(m) for m in self.mAP_optimistic],
                    average_mAP_pessimistic=float(np.mean(self.mAP_pessimistic)),
                    average_mAP_optimistic=float(np.mean(self.mAP_optimistic)))


def evaluate_detections(ground_truth: Sequence[dict], detections: Detections,
                        tiou_thresholds: Sequence[float],
                        class_names: Optional[Sequence[str]] = None,
                        logger: Optional[MMLogger] = None,
                        tie_order: str = 'stable') -> TALEvalResult:
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
        tie_order (str): ranking of equal scores (and equal tIoUs): ``'stable'``
            (file order, default) or ``'numpy'`` (``argsort()[::-1]``, the official
            evaluator's, whose tie order depends on the numpy version).

    Returns:
        TALEvalResult. Detections on videos without ground truth of their class are
        false positives; detections of classes without ground truth are ignored (and
        counted in the log); classes without detections score AP 0. The tie report
        (``num_tied``, ``mAP_pessimistic`` / ``mAP_optimistic``) comes with it.
    """
    tious = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if tious.size == 0 or np.any((tious <= 0) | (tious > 1)):
        raise ValueError(f'tiou_thresholds must be non-empty values in (0, 1], got '
                         f'{list(tiou_thresholds)}')
    if class_names is None:
        class_names = ground_truth[0]['class_names'] if ground_truth else []
    flat = flatten_ground_truth(ground_truth)
    per_class = match_all_classes(flat, detections, tious, tie_order, logger)

    n_cls = len(flat.class_ids)
    ap, ap_pess, ap_opt = (np.zeros((len(tious), n_cls)) for _ in range(3))
    num_gt = np.zeros(n_cls, dtype=np.int64)
    num_pred = np.zeros(n_cls, dtype=np.int64)
    num_tied = num_groups = 0
    for c, res in enumerate(per_class):
        m = res.match
        num_gt[c], num_pred[c] = m.num_gt, len(res.det_index)
        tp = m.tp
        ap[:, c] = ap_from_flags(tp, m.num_gt)
        tied, groups = count_ties(m.sorted_scores)
        num_tied, num_groups = num_tied + tied, num_groups + groups
        if tied:
            ap_pess[:, c] = np.minimum(ap[:, c], ap_from_flags(tie_extreme_flags(
                m.candidates, m.sorted_scores, tious, m.num_gt, False), m.num_gt))
            ap_opt[:, c] = np.maximum(ap[:, c], ap_from_flags(tie_extreme_flags(
                m.candidates, m.sorted_scores, tious, m.num_gt, True), m.num_gt))
        else:
            ap_pess[:, c] = ap_opt[:, c] = ap[:, c]
    mAP = ap.mean(axis=1)
    return TALEvalResult(tious=tious, class_ids=flat.class_ids,
                         class_names=[str(class_names[i]) for i in flat.class_ids], ap=ap,
                         num_gt=num_gt, num_pred=num_pred, mAP=mAP,
                         average_mAP=float(mAP.mean()), tie_order=tie_order,
                         num_tied=num_tied, num_tie_groups=num_groups,
                         mAP_pessimistic=ap_pess.mean(axis=1),
                         mAP_optimistic=ap_opt.mean(axis=1))


def format_tie_report(result: TALEvalResult) -> str:
    """One line: ties, the order used and the average-mAP span (%) they allow."""
    if result.num_tied == 0:
        return f'no tied scores (tie order {result.tie_order!r} does not matter)'
    return (f'{result.num_tied} detections share their score with another of their class '
            f'({result.num_tie_groups} tied values); tie order {result.tie_order!r}: '
            f'average mAP {100 * result.average_mAP:.2f}, '
            f'{100 * np.mean(result.mAP_pessimistic):.2f} (false positives first) to '
            f'{100 * np.mean(result.mAP_optimistic):.2f} (true positives first)')


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
