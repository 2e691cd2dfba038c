"""Reading ActivityNet-style ``database`` annotation files (THUMOS-14, ActivityNet-v1.3).

One parser serves the datasets (training / inference) and the metric (evaluation), so
both see the same videos, classes and segments. It also validates the file in one
place (:func:`validate_entry`): every type and value it relies on is checked, and each
error names the file, the video and the field (docs/robustness.md).
"""
import json
import math
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger


def load_database(ann_file: str) -> Dict[str, dict]:
    """Load the ``database`` mapping ``video_id -> entry`` of an annotation file."""
    try:
        with open(ann_file) as f:
            content = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'annotation file not found: {ann_file}') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{ann_file}: not valid JSON ({e})') from None
    if not isinstance(content, dict) or 'database' not in content:
        raise ValueError(f"{ann_file}: expected a JSON object with a 'database' key "
                         '(ActivityNet annotation format)')
    return content['database']


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
                   labels_only: bool = False) -> None:
    """Check one ``database`` entry; raise ``ValueError`` naming file, video and field.

    Rules: the entry is an object; ``subset`` a string; ``duration`` absent / null (kept,
    as ActivityNet's entries without one) or a number > 0; ``fps`` absent / null or a
    number > 0; ``annotations`` absent or a list of objects, each with ``label`` a string,
    ``label_id`` (optional) an integer, and ``segment`` two finite numbers
    ``[start, end]`` with ``0 <= start <= end`` (zero-length segments exist in
    ActivityNet-v1.3 and are kept). A segment ending after ``duration`` is *not* an
    error: the real THUMOS-14 and ActivityNet files hold such segments, and evaluation
    takes the ground truth as the file gives it.

    Args:
        labels_only: check only what :func:`resolve_class_names` reads (used for the
            entries of subsets that are not loaded).
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
    if not isinstance(entry.get('subset'), str):
        raise ValueError(f'{_where(ann_file, vid, "subset")}: expected a string, got '
                         f"{entry.get('subset')!r}")
    for field in ('duration', 'fps'):
        if entry.get(field) is not None:
            value = _number(entry[field], ann_file, vid, field)
            if value <= 0:
                raise ValueError(f'{_where(ann_file, vid, field)}: must be > 0, got '
                                 f'{entry[field]!r}')


def resolve_class_names(database: Dict[str, dict],
                        class_names: Optional[Union[Sequence[str], str]] = None,
                        ann_file: str = '<database>') -> List[str]:
    """The ordered class list.

    Args:
        database: ``video_id -> entry``.
        class_names: a list of names, a path to a text file with one name a line,
            or None to derive the list from the file: ordered by ``label_id`` when
            every annotation carries one (THUMOS-14), else sorted by name
            (ActivityNet-v1.3).
    """
    if isinstance(class_names, str):
        with open(class_names) as f:
            return [line.strip() for line in f if line.strip()]
    if class_names is not None:
        return list(class_names)
    by_id, names, all_have_id = {}, set(), True
    for vid, entry in database.items():
        for ann in entry.get('annotations', []):
            names.add(ann['label'])
            if 'label_id' in ann:
                prev = by_id.setdefault(int(ann['label_id']), ann['label'])
                if prev != ann['label']:
                    raise ValueError(f"{ann_file}: video '{vid}': label_id {ann['label_id']} "
                                     f"is '{ann['label']}' here but '{prev}' elsewhere")
            else:
                all_have_id = False
    if all_have_id and by_id:
        return [by_id[k] for k in sorted(by_id)]
    return sorted(names)


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


def load_tal_annotations(ann_file: str,
                         subset: Union[str, Sequence[str]],
                         class_names: Optional[Union[Sequence[str], str]] = None,
                         remove_duplicates: bool = False,
                         unknown_label: str = 'error') -> List[dict]:
    """Parse the videos of one or more subsets.

    Args:
        ann_file: path to the ``database`` JSON.
        subset: subset name(s), e.g. ``'Validation'`` / ``'Test'`` (THUMOS-14) or
            ``'training'`` / ``'validation'`` (ActivityNet-v1.3).
        class_names: see :func:`resolve_class_names`.
        remove_duplicates: drop exact duplicate ground truth (same label, bounds within
            1e-3 s) as ActionFormer / OpenTAD do. The official evaluator keeps them.
        unknown_label: ``'error'`` raises on a label outside ``class_names``;
            ``'skip'`` drops the segment and logs how many were dropped.

    Returns:
        One dict per video, file order: ``video_id``, ``subset``, ``duration`` (s or None),
        ``fps`` (or None), ``segments`` [N, 2] float64 seconds as the file gives them,
        ``labels`` [N] int64, ``class_names``.

    Raises:
        ValueError: naming the file, video and field, for malformed entries (types and
            values, see :func:`validate_entry`), an unknown label (with
            ``unknown_label='error'``) or an empty subset.
    """
    database = load_database(ann_file)
    subsets = [subset] if isinstance(subset, str) else list(subset)
    if not isinstance(database, dict):
        raise ValueError(f"{ann_file}: 'database' must map video ids to entries, got "
                         f'{type(database).__name__}')
    for vid, entry in database.items():
        loaded = isinstance(entry, dict) and entry.get('subset') in subsets
        validate_entry(vid, entry, ann_file, labels_only=not loaded)
    classes = resolve_class_names(database, class_names, ann_file)
    index = {name: i for i, name in enumerate(classes)}
    logger = MMLogger.get_current_instance()
    videos, n_dup, n_unknown = [], 0, 0
    for vid, entry in database.items():
        if entry.get('subset') not in subsets:
            continue
        segs, labels = [], []
        for k, ann in enumerate(entry.get('annotations', [])):
            seg = ann['segment']  # checked by validate_entry
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
        duration = entry.get('duration')
        videos.append(dict(
            video_id=vid, subset=entry.get('subset'),
            duration=None if duration is None else float(duration),
            fps=None if entry.get('fps') is None else float(entry['fps']),
            segments=segments, labels=labels_arr, class_names=classes))
    if not videos:
        raise ValueError(f'{ann_file}: subset {subsets} has no videos (subsets in the file: '
                         f"{sorted({str(e.get('subset')) for e in database.values()})})")
    if n_dup:
        logger.info(f'{ann_file}: removed {n_dup} duplicate ground-truth segments')
    if n_unknown:
        logger.warning(f'{ann_file}: skipped {n_unknown} segments with labels outside the '
                       'class list')
    return videos
