"""Reading temporal action annotation files (THUMOS-14, ActivityNet-v1.3) in the
layouts of :mod:`.annotation_layouts` (ActivityNet / ActionFormer / OpenTAD ``database``
files, MMAction2's ActivityNet files).

One parser serves the datasets (training / inference) and the metric (evaluation), so
both see the same videos, classes and segments. It also validates the file in one
place (:func:`validate_entry`): every type and value it relies on is checked, and each
error names the file, the video and the field (docs/robustness.md).
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import MMLogger

from .annotation_layouts import MMACTION2_ANET, load_database, normalize_layout, read_json
from .class_list import DEFAULT_IGNORE_LABELS, resolve_class_names

# THUMOS-14's two namings of one split: ActionFormer's file calls the training videos
# 'Validation' and the test videos 'Test'; OpenTAD's calls them 'training' and
# 'validation'. A subset missing from a file is looked up under its other name (logged).
SUBSET_ALIASES = {'Validation': 'training', 'Test': 'validation',
                  'training': 'Validation', 'validation': 'Test'}

__all__ = ['load_database', 'resolve_class_names', 'validate_entry', 'resolve_subsets',
           'subset_video_ids', 'entry_fps',
           'load_tal_annotations', 'remove_duplicate_segments', 'SUBSET_ALIASES',
           'DEFAULT_IGNORE_LABELS']


def _where(ann_file: str, vid: str, field: str) -> str:
    return f"{ann_file}: video '{vid}' field '{field}'"


def _number(value: Any, ann_file: str, vid: str, field: str) -> float:
    """``value`` as a finite float; bool and strings are refused (JSON numbers only)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{_where(ann_file, vid, field)}: expected a number, got '
                         f'{type(value).__name__} {value!r}')
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f'{_where(ann_file, vid, field)}: expected a finite number, got '
                         f'{value!r}')
    return value


def validate_entry(vid: str, entry: Any, ann_file: str = '<database>',
                   labels_only: bool = False, subset_optional: bool = False) -> None:
    """Check one ``database`` entry; raise ``ValueError`` naming file, video and field.

    Rules: the entry is an object; ``subset`` a string; ``duration`` absent / null (kept,
    as ActivityNet's entries without one) or a number > 0; ``fps`` absent / null or a
    number > 0; ``frame`` (OpenTAD's frame count) absent / null or a number > 0;
    ``annotations`` absent or a list of objects, each with ``label`` a string,
    ``label_id`` (optional) an integer, and ``segment`` two finite numbers
    ``[start, end]`` with ``0 <= start <= end`` (zero-length segments exist in
    ActivityNet-v1.3 and are kept). A segment ending after ``duration`` is *not* an
    error: the real THUMOS-14 and ActivityNet files hold such segments, and evaluation
    takes the ground truth as the file gives it.

    Args:
        labels_only: check only what :func:`resolve_class_names` reads (used for the
            entries of subsets that are not loaded).
        subset_optional: accept ``subset`` None (MMAction2's files have no subsets).
    """
    if not isinstance(entry, dict):
        raise ValueError(f"{ann_file}: video '{vid}': expected an object, got "
                         f'{type(entry).__name__}')
    anns = entry.get('annotations', [])
    if not isinstance(anns, list):
        raise ValueError(f'{_where(ann_file, vid, "annotations")}: expected a list, got '
                         f'{type(anns).__name__}')
    for k, ann in enumerate(anns):
        field = f'annotations[{k}]'
        if not isinstance(ann, dict):
            raise ValueError(f'{_where(ann_file, vid, field)}: expected an object, got '
                             f'{type(ann).__name__}')
        if 'label' not in ann:
            raise ValueError(f'{_where(ann_file, vid, field + ".label")}: missing (keys: '
                             f'{sorted(ann)})')
        if not isinstance(ann['label'], str):
            raise ValueError(f'{_where(ann_file, vid, field + ".label")}: expected a '
                             f"string, got {type(ann['label']).__name__} {ann['label']!r}")
        if 'label_id' in ann and (isinstance(ann['label_id'], bool)
                                  or not isinstance(ann['label_id'], int)):
            raise ValueError(f'{_where(ann_file, vid, field + ".label_id")}: expected an '
                             f"integer, got {type(ann['label_id']).__name__} "
                             f"{ann['label_id']!r}")
        if labels_only:
            continue
        seg = ann.get('segment')
        if not (isinstance(seg, (list, tuple)) and len(seg) == 2):
            raise ValueError(f'{_where(ann_file, vid, field + ".segment")}: must be '
                             f'[start, end] in seconds, got {seg!r}')
        start = _number(seg[0], ann_file, vid, field + '.segment[0]')
        end = _number(seg[1], ann_file, vid, field + '.segment[1]')
        if start < 0:
            raise ValueError(f'{_where(ann_file, vid, field + ".segment")}: starts before '
                             f'0 s ({seg!r})')
        if end < start:
            raise ValueError(f'{_where(ann_file, vid, field + ".segment")}: end {end} < '
                             f'start {start}')
    if labels_only:
        return
    if not isinstance(entry.get('subset'), str) and not (subset_optional
                                                         and entry.get('subset') is None):
        raise ValueError(f'{_where(ann_file, vid, "subset")}: expected a string, got '
                         f"{entry.get('subset')!r}")
    for field in ('duration', 'fps', 'frame'):
        if entry.get(field) is not None:
            value = _number(entry[field], ann_file, vid, field)
            if value <= 0:
                raise ValueError(f'{_where(ann_file, vid, field)}: must be > 0, got '
                                 f'{entry[field]!r}')


def remove_duplicate_segments(segments: np.ndarray, labels: np.ndarray,
                              tol: float = 1e-3):
    """Drop ground truth repeated with the same label and bounds within ``tol`` seconds.

    Args:
        segments: [N, 2] seconds. labels: [N].
    Returns:
        (segments [M, 2], labels [M], number removed), first occurrences kept in order.
    """
    keep: List[int] = []
    for i in range(len(segments)):
        dup = any(labels[j] == labels[i] and np.all(np.abs(segments[j] - segments[i]) <= tol)
                  for j in keep)
        if not dup:
            keep.append(i)
    keep_arr = np.asarray(keep, dtype=np.int64)
    return segments[keep_arr].reshape(-1, 2), labels[keep_arr], len(segments) - len(keep)


def resolve_subsets(requested: Union[str, Sequence[str]], database: Dict[str, dict],
                    ann_file: str = '<database>') -> List[str]:
    """The subset names to load: each requested name, or its THUMOS-14 alias
    (:data:`SUBSET_ALIASES`) when the file lacks the name but has the alias."""
    present = {e.get('subset') for e in database.values() if isinstance(e, dict)}
    out = []
    for name in ([requested] if isinstance(requested, str) else list(requested)):
        alias = SUBSET_ALIASES.get(name)
        if name not in present and alias in present:
            MMLogger.get_current_instance().info(
                f"{ann_file}: no subset '{name}'; loading '{alias}', its name in this "
                "file's THUMOS-14 naming (ActionFormer 'Validation' / 'Test' = OpenTAD "
                "'training' / 'validation')")
            name = alias
        out.append(name)
    return out


def subset_video_ids(ann_file: str, subset: Union[str, Sequence[str]]) -> List[str]:
    """Ids of the videos of ``subset`` (aliases as :func:`resolve_subsets`; every video
    of an MMAction2 file), without parsing their annotations."""
    database, layout = normalize_layout(read_json(ann_file), ann_file)
    if layout == MMACTION2_ANET:
        return list(database)
    subsets = resolve_subsets(subset, database, ann_file)
    return [vid for vid, e in database.items()
            if isinstance(e, dict) and e.get('subset') in subsets]


def entry_fps(entry: dict) -> Tuple[Optional[float], Optional[str]]:
    """(fps, where it came from): the ``fps`` field, else the frame count over the
    duration (OpenTAD, MMAction2), else (None, None)."""
    if entry.get('fps') is not None:
        return float(entry['fps']), 'annotation'
    if entry.get('frame') is not None and entry.get('duration') is not None:
        return float(entry['frame']) / float(entry['duration']), 'frames'
    return None, None


def _video_record(vid: str, entry: dict, segments: np.ndarray, labels: np.ndarray,
                  classes: List[str]) -> dict:
    duration = entry.get('duration')
    fps, fps_source = entry_fps(entry)
    return dict(video_id=vid, subset=entry.get('subset'),
                duration=None if duration is None else float(duration),
                fps=fps, fps_source=fps_source, segments=segments, labels=labels,
                class_names=classes)


def load_tal_annotations(ann_file: str,
                         subset: Union[str, Sequence[str]],
                         class_names: Optional[Union[Sequence[str], str]] = None,
                         remove_duplicates: bool = False,
                         unknown_label: str = 'error',
                         ignore_labels: Sequence[str] = DEFAULT_IGNORE_LABELS) -> List[dict]:
    """Parse the videos of one or more subsets, in any accepted layout
    (:mod:`.annotation_layouts`).

    Args:
        ann_file: path to the annotation JSON.
        subset: subset name(s), e.g. ``'Validation'`` / ``'Test'`` (THUMOS-14; OpenTAD's
            ``'training'`` / ``'validation'`` are found under either naming, see
            :func:`resolve_subsets`) or ``'training'`` / ``'validation'``
            (ActivityNet-v1.3). MMAction2's files have no subsets: all their videos
            are loaded.
        class_names: see :func:`resolve_class_names`.
        remove_duplicates: drop exact duplicate ground truth (same label, bounds within
            1e-3 s) as ActionFormer / OpenTAD do. The official evaluator keeps them.
        unknown_label: ``'error'`` raises on a label outside ``class_names``;
            ``'skip'`` drops the segment and logs how many were dropped.
        ignore_labels: labels that are not classes, dropped (and counted in the log)
            before anything else: THUMOS-14's ``'Ambiguous'`` by default.

    Returns:
        One dict per video, file order: ``video_id``, ``subset``, ``duration`` (s or None),
        ``fps`` (or None) and ``fps_source`` (``'annotation'``: the ``fps`` field;
        ``'frames'``: frame count / duration; None), ``segments`` [N, 2] float64
        seconds as the file gives them, ``labels`` [N] int64, ``class_names``.

    Raises:
        ValueError: naming the file, video and field, for malformed entries (types and
            values, see :func:`validate_entry`), an unknown label (with
            ``unknown_label='error'``) or an empty subset.
    """
    database, layout = normalize_layout(read_json(ann_file), ann_file)
    whole_file = layout == MMACTION2_ANET
    subsets = resolve_subsets(subset, database, ann_file)
    for vid, entry in database.items():
        loaded = whole_file or (isinstance(entry, dict) and entry.get('subset') in subsets)
        validate_entry(vid, entry, ann_file, labels_only=not loaded,
                       subset_optional=whole_file)
    classes = resolve_class_names(database, class_names, ann_file, ignore_labels)
    index = {name: i for i, name in enumerate(classes)}
    ignore = set(ignore_labels)
    logger = MMLogger.get_current_instance()
    videos, n_dup, n_unknown, n_ignored = [], 0, 0, 0
    for vid, entry in database.items():
        if not whole_file and entry.get('subset') not in subsets:
            continue
        segs, labels = [], []
        for k, ann in enumerate(entry.get('annotations', [])):
            seg = ann['segment']  # checked by validate_entry
            if ann['label'] in ignore:
                n_ignored += 1
                continue
            if ann['label'] not in index:
                if unknown_label == 'skip':
                    n_unknown += 1
                    continue
                raise ValueError(f"{ann_file}: video '{vid}' annotation {k}: unknown label "
                                 f"{ann.get('label')!r} (not among the {len(classes)} classes)")
            segs.append([float(seg[0]), float(seg[1])])
            labels.append(index[ann['label']])
        segments = np.asarray(segs, dtype=np.float64).reshape(-1, 2)
        labels_arr = np.asarray(labels, dtype=np.int64)
        if remove_duplicates:
            segments, labels_arr, removed = remove_duplicate_segments(segments, labels_arr)
            n_dup += removed
        videos.append(_video_record(vid, entry, segments, labels_arr, classes))
    if not videos:
        raise ValueError(f'{ann_file}: subset {subsets} has no videos (subsets in the file: '
                         f"{sorted({str(e.get('subset')) for e in database.values()})})")
    if whole_file:
        logger.info(f'{ann_file}: MMAction2 ActivityNet layout, no subsets: the file is '
                    f'the subset, all {len(videos)} videos loaded')
    if n_ignored:
        logger.info(f'{ann_file}: dropped {n_ignored} segments labelled '
                    f'{sorted(ignore)} (not classes)')
    if n_dup:
        logger.info(f'{ann_file}: removed {n_dup} duplicate ground-truth segments')
    if n_unknown:
        logger.warning(f'{ann_file}: skipped {n_unknown} segments with labels outside the '
                       'class list')
    return videos
