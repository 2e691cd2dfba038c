"""The temporal action localization metric: merges the windows of each video, then
computes ActivityNet-style mAP at several tIoU thresholds against the annotation file.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmaction.registry import METRICS

from losa_plugin.datasets.class_list import DEFAULT_IGNORE_LABELS
from losa_plugin.datasets.tal_annotation import load_tal_annotations
from losa_plugin.datasets.video_files import join_root, read_video_list
from losa_plugin.utils.segment_ops import batched_segment_nms
from .detection_eval import (Detections, evaluate_detections, flatten_ground_truth,
                             format_ap_table, format_tie_report)
from .results_io import dump_submission
from .score_fusion import FUSION_MODES, ExternalClassScores, fuse_class_scores
from .tie_order import check_tie_order
from .topkx_recall import topkx_recall

_DEFAULT_MERGE_NMS = dict(method='soft', iou_threshold=0.1, sigma=0.5, min_score=1e-3,
                          max_num=200, voting_thresh=0.0)


@METRICS.register_module()
class TALMetric(BaseMetric):
    """mAP@tIoU for temporal action localization (ActivityNet protocol).

    Ground truth is read from ``ann_file`` (not from what the model saw), as the file
    gives it, so numbers compare with published ones. Predictions arrive per window;
    ``compute_metrics`` (which sees every rank's windows after mmengine's collect)
    concatenates the windows of each video and, with ``merge_nms``, suppresses
    duplicates across them.

    Args:
        ann_file (str): the annotation JSON, any layout of
            :mod:`losa_plugin.datasets.annotation_layouts`.
        subset (str | Sequence[str]): subset(s) to evaluate, e.g. ``'Test'``.
        tiou_thresholds (Sequence[float]): Default (0.3, 0.4, 0.5, 0.6, 0.7).
        data_root (str): joined to the relative paths given here (``ann_file``, a
            ``class_names`` file, ``ext_score_file``, list files), as the datasets
            join theirs. Default ''.
        class_names (Sequence[str] | str, optional): class list or a text file with one
            name a line; None derives it from the file (see ``load_tal_annotations``).
            Predicted ``labels`` index this list.
        ignore_labels (Sequence[str]): labels that are not classes, dropped from the
            ground truth as the datasets drop them. Default ``('Ambiguous',)``.
        block_list (Sequence[str] | str, optional): videos left out of the evaluation
            (ground truth and predictions), e.g. ActivityNet videos no longer online
            (OpenTAD's ``blocked.json``). Logged: the number is then not the full
            protocol's. Default None.
        video_ids (Sequence[str] | str, optional): evaluate only these videos (a
            held-out part of a subset, docs/evaluation.md). Default None.
        recall_topk (Sequence[int], optional): also report ActionFormer's Recall@kx
            for these k at every threshold (THUMOS-14: ``(1, 5)``;
            :mod:`.topkx_recall`). Default None.
        remove_duplicate_gt (bool): drop duplicate ground truth (same label, bounds
            within 1e-3 s) as ActionFormer / OpenTAD do. Default False (official).
        merge_nms (dict, optional): keyword arguments of
            :func:`losa_plugin.utils.segment_ops.batched_segment_nms` applied to each
            video's merged windows; None just concatenates. Default soft-NMS
            (sigma 0.5, min_score 1e-3, max_num 200).
        out_file (str, optional): also write the merged (and fused) detections there
            in the ActivityNet submission format.
        tie_order (str): ranking of equal scores, ``'stable'`` (file order: videos in
            order of arrival, then the merge's order; the default) or ``'numpy'``
            (``argsort()[::-1]`` as the official evaluator, numpy-version dependent).
            Either way the log reports the tied detections and the mAP span ties allow
            (docs/evaluation.md).
        ext_score_file (str, optional): video-level class scores of an external
            classifier (docs/evaluation.md). When given, each video's detections (from
            a class-agnostic detector; their labels are discarded) are repeated for its
            top ``ext_score_topk`` classes, as ActionFormer / OpenTAD do on ActivityNet.
        ext_score_topk (int): classes per video. Default 2.
        ext_score_fusion (str): ``'product'`` (detection x class score, default) or
            ``'sqrt'`` (its square root, ActionFormer); same mAP.
        collect_device (str): 'cpu' or 'gpu'. Default 'cpu'.
        prefix (str, optional): prefix of the metric names. Default None.

    Returned metrics (fractions): ``mAP@0.30`` ... one per threshold, and
    ``average_mAP``; with ``recall_topk`` also ``recall@1x@0.30`` ... and
    ``average_recall@1x`` ....
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 ann_file: str,
                 subset: Union[str, Sequence[str]],
                 tiou_thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7),
                 data_root: str = '',
                 class_names: Optional[Union[Sequence[str], str]] = None,
                 ignore_labels: Sequence[str] = DEFAULT_IGNORE_LABELS,
                 block_list: Optional[Union[Sequence[str], str]] = None,
                 video_ids: Optional[Union[Sequence[str], str]] = None,
                 recall_topk: Optional[Sequence[int]] = None,
                 remove_duplicate_gt: bool = False,
                 merge_nms: Optional[dict] = _DEFAULT_MERGE_NMS,
                 out_file: Optional[str] = None,
                 tie_order: str = 'stable',
                 ext_score_file: Optional[str] = None,
                 ext_score_topk: int = 2,
                 ext_score_fusion: str = 'product',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        ann_file = join_root(ann_file, data_root)
        if isinstance(class_names, str):
            class_names = join_root(class_names, data_root)
        self.ann_file = ann_file
        self.subset = subset
        self.tiou_thresholds = tuple(float(t) for t in tiou_thresholds)
        self.merge_nms = None if merge_nms is None else dict(merge_nms)
        if self.merge_nms is not None and 'iou_threshold' not in self.merge_nms:
            raise ValueError(f'TALMetric: merge_nms needs iou_threshold, got {merge_nms}')
        self.out_file = out_file
        self.ground_truth = self._select_videos(load_tal_annotations(
            ann_file, subset, class_names=class_names,
            remove_duplicates=remove_duplicate_gt, ignore_labels=ignore_labels),
            read_video_list(block_list, data_root, 'block_list'),
            None if video_ids is None else read_video_list(video_ids, data_root, 'video_ids'))
        self.class_names: List[str] = list(self.ground_truth[0]['class_names'])
        self.recall_topk = None if recall_topk is None else tuple(int(k) for k in recall_topk)
        self.tie_order = check_tie_order(tie_order, 'TALMetric: tie_order')
        if ext_score_fusion not in FUSION_MODES:
            raise ValueError(f'TALMetric: ext_score_fusion must be one of {FUSION_MODES}, '
                             f'got {ext_score_fusion!r}')
        if not isinstance(ext_score_topk, int) or ext_score_topk < 1:
            raise ValueError(f'TALMetric: ext_score_topk must be a positive int, got '
                             f'{ext_score_topk!r}')
        self.ext_score_topk, self.ext_score_fusion = ext_score_topk, ext_score_fusion
        # read at construction so that a wrong path fails before any inference
        self.class_scores = None if ext_score_file is None else \
            ExternalClassScores(join_root(ext_score_file, data_root), self.class_names)

    def _select_videos(self, ground_truth: List[dict], blocked: set,
                       keep: Optional[set]) -> List[dict]:
        """The ground truth without ``blocked`` videos (and, with ``keep``, only those)."""
        self.evaluated_videos = None
        if not blocked and keep is None:
            return ground_truth
        selected = [v for v in ground_truth if v['video_id'] not in blocked
                    and (keep is None or v['video_id'] in keep)]
        if not selected:
            raise ValueError(f'TALMetric: no video of {self.ann_file} [{self.subset}] is '
                             'left after block_list / video_ids')
        self.evaluated_videos = {v['video_id'] for v in selected}
        MMLogger.get_current_instance().info(
            f'TALMetric: evaluating {len(selected)} of the {len(ground_truth)} videos of '
            f'{self.ann_file} [{self.subset}] (block_list / video_ids); not the full '
            "subset's protocol")
        return selected

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store one numpy copy of each window's predictions.

        Args:
            data_batch: unused.
            data_samples (Sequence[dict]): each with ``video_id`` and ``pred_instances``
                (``segments`` [K, 2] seconds, ``scores`` [K], ``labels`` [K]).
        """
        for sample in data_samples:
            if hasattr(sample, 'to_dict'):
                sample = sample.to_dict()
            if 'video_id' not in sample or 'pred_instances' not in sample:
                raise KeyError(f'TALMetric.process: a data sample needs video_id and '
                               f'pred_instances, got keys {sorted(sample)}')
            pred = sample['pred_instances']
            for key in ('segments', 'scores', 'labels'):
                if key not in pred:
                    raise KeyError(f"TALMetric.process: video '{sample['video_id']}': "
                                   f'pred_instances lacks {key!r}')
            segments = _to_numpy(pred['segments'], np.float64).reshape(-1, 2)
            scores = _to_numpy(pred['scores'], np.float64).reshape(-1)
            labels = _to_numpy(pred['labels'], np.int64).reshape(-1)
            if not len(segments) == len(scores) == len(labels):
                raise ValueError(f"TALMetric.process: video '{sample['video_id']}': "
                                 f'segments {segments.shape}, scores {scores.shape} and '
                                 f'labels {labels.shape} disagree in length')
            self.results.append(dict(video_id=str(sample['video_id']), segments=segments,
                                     scores=scores, labels=labels))

    def merge_windows(self, results: List[dict]) -> Detections:
        """Concatenate the windows of each video (videos in order of first appearance)
        and apply ``merge_nms`` per video."""
        by_video: Dict[str, List[dict]] = OrderedDict()
        for r in results:
            by_video.setdefault(r['video_id'], []).append(r)
        video_ids, segments, scores, labels = [], [], [], []
        for vid, windows in by_video.items():
            seg = np.concatenate([w['segments'] for w in windows])
            sc = np.concatenate([w['scores'] for w in windows])
            lab = np.concatenate([w['labels'] for w in windows])
            if self.merge_nms is not None and len(sc):
                seg_t, sc_t, lab_t = batched_segment_nms(
                    torch.from_numpy(seg), torch.from_numpy(sc), torch.from_numpy(lab),
                    **self.merge_nms)
                seg, sc, lab = seg_t.numpy(), sc_t.numpy(), lab_t.numpy()
            video_ids += [vid] * len(sc)
            segments.append(seg)
            scores.append(sc)
            labels.append(lab)
        if not video_ids:
            return Detections.empty()
        return Detections(video_ids, np.concatenate(segments).astype(np.float64),
                          np.concatenate(scores).astype(np.float64),
                          np.concatenate(labels).astype(np.int64))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Merge, evaluate, log the per-class table; return ``{'mAP@0.30': ...,
        'average_mAP': ...}``."""
        logger = MMLogger.get_current_instance()
        if self.evaluated_videos is not None:
            results = [r for r in results if r['video_id'] in self.evaluated_videos]
        detections = self.merge_windows(results)
        if self.class_scores is not None:
            detections = fuse_class_scores(detections, self.class_scores,
                                           self.ext_score_topk, self.ext_score_fusion,
                                           self.tie_order, logger)
        bad = (detections.labels < 0) | (detections.labels >= len(self.class_names))
        if bad.any():
            raise ValueError(f'TALMetric: predicted labels must index the '
                             f'{len(self.class_names)} classes of {self.ann_file}, got '
                             f'{sorted(set(detections.labels[bad].tolist()))[:10]}')
        if self.out_file:
            dump_submission(self.out_file, detections, self.class_names)
            logger.info(f'TALMetric: wrote {len(detections.scores)} detections to '
                        f'{self.out_file}')
        result = evaluate_detections(self.ground_truth, detections, self.tiou_thresholds,
                                     self.class_names, logger=logger,
                                     tie_order=self.tie_order)
        logger.info(f'TALMetric on {self.ann_file} [{self.subset}], AP (%):\n'
                    + format_ap_table(result))
        logger.info('TALMetric: ' + ', '.join(
            f'mAP@{t:.2f} = {100 * m:.2f}' for t, m in zip(result.tious, result.mAP))
            + f', average mAP = {100 * result.average_mAP:.2f}')
        logger.info('TALMetric: ' + format_tie_report(result))
        metrics = result.metrics()
        if self.recall_topk:
            metrics.update(self._recall(detections, logger))
        return metrics

    def _recall(self, detections: Detections, logger: MMLogger) -> Dict[str, float]:
        """``recall@{k}x@{tIoU}`` and ``average_recall@{k}x`` (fractions), logged."""
        recall = topkx_recall(flatten_ground_truth(self.ground_truth), detections,
                              self.tiou_thresholds, self.recall_topk, self.tie_order)
        out = {}
        for j, k in enumerate(self.recall_topk):
            out.update({f'recall@{k}x@{t:.2f}': float(r)
                        for t, r in zip(self.tiou_thresholds, recall[:, j])})
            out[f'average_recall@{k}x'] = float(recall[:, j].mean())
        logger.info('TALMetric: ' + '; '.join(
            f'tIoU {t:.2f}: ' + ', '.join(f'Recall@{k}x = {100 * recall[i, j]:.2f}'
                                          for j, k in enumerate(self.recall_topk))
            for i, t in enumerate(self.tiou_thresholds)))
        return out


def _to_numpy(x, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)
