"""Finding each video's file, lists of video ids, and what a dataset does when files are
missing or shorter than their annotation.

ActivityNet always lacks some YouTube videos and feature packs skip a few; a dataset
therefore skips a missing file with a warning naming it (and the count), reads an
optional block list (OpenTAD's ``block_list``), and refuses only when more than a
configurable fraction is missing.
"""
import json
import os.path as osp
from typing import Iterable, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
from mmengine.logging import MMLogger

SHOW = 5  # how many videos a message lists


def as_extensions(ext: Union[str, Sequence[str]], key: str) -> Tuple[str, ...]:
    """``ext`` as a tuple of extensions ('' allowed: frame folders)."""
    exts = (ext, ) if isinstance(ext, str) else tuple(ext)
    if not exts or not all(isinstance(e, str) for e in exts):
        raise ValueError(f'{key} must be a string or a non-empty list of strings, got '
                         f'{ext!r}')
    return exts


def join_root(path: Optional[str], data_root: str) -> Optional[str]:
    """``path`` joined to ``data_root`` unless absolute (mmengine's rule for
    ``ann_file``), so every path of a dataset config follows ``data_root``."""
    if path is None or not data_root or osp.isabs(path):
        return path
    return osp.join(data_root, path)


def read_video_list(spec: Optional[Union[str, Iterable[str]]], data_root: str = '',
                    key: str = 'block_list') -> Set[str]:
    """Video ids from a list, or from a file: a JSON list (OpenTAD's ``blocked.json``)
    or text with one id a line. Relative paths follow ``data_root``."""
    if spec is None:
        return set()
    if not isinstance(spec, str):
        return {str(v) for v in spec}
    path = join_root(spec, data_root)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{key} file not found: {path} (expected a JSON list of '
                                'video ids or a text file with one id a line)')
    with open(path) as f:
        text = f.read()
    if path.endswith('.json'):
        ids = json.loads(text)
        if not isinstance(ids, list):
            raise ValueError(f'{key} file {path}: expected a JSON list of video ids, got '
                             f'{type(ids).__name__}')
        return {str(v) for v in ids}
    return {line.strip() for line in text.splitlines() if line.strip()}


def find_file(folder: str, name: str, exts: Sequence[str], is_video: bool) -> Optional[str]:
    """The first ``folder/name + ext`` that exists (a file, or for video a frame
    folder), else None."""
    for ext in exts:
        path = osp.join(folder, name + ext)
        if osp.isfile(path) or (is_video and osp.isdir(path)):
            return path
    return None


def report_missing(missing: List[Tuple[str, str]], total: int, max_fraction: float,
                   where: str, kind: str, test_mode: bool) -> None:
    """Warn about skipped videos, naming them; raise when more than ``max_fraction`` of
    ``total`` are missing.

    Args:
        missing: ``(video_id, expected path)`` pairs.
    """
    if not missing:
        return
    shown = '; '.join(f"video '{v}': {p}" for v, p in missing[:SHOW])
    more = f' and {len(missing) - SHOW} more' if len(missing) > SHOW else ''
    msg = (f'{where}: {len(missing)} of {total} {kind} files are missing, e.g. '
           f'{shown}{more}')
    if len(missing) > max_fraction * total:
        raise FileNotFoundError(f'{msg}; more than max_missing_fraction={max_fraction} '
                                '(raise it to skip them, or list them in block_list)')
    note = (' Their ground truth still counts in TALMetric (as misses) unless its '
            'block_list names them.' if test_mode else '')
    MMLogger.get_current_instance().warning(f'{msg}; skipped.{note}')


def clip_segments(segments: np.ndarray, labels: np.ndarray, end: float):
    """Keep what a model can see of ``[0, end]`` seconds: segments starting at / after
    ``end`` are dropped, the rest clipped to ``[0, end]``.

    Args:
        segments: [N, 2] seconds. labels: [N].
    Returns:
        (segments [M, 2], labels [M], number clipped, number dropped).
    """
    keep = segments[:, 0] < end
    dropped = int((~keep).sum())
    segments, labels = segments[keep], labels[keep]
    clipped = int((segments[:, 1] > end).sum() + (segments[:, 0] < 0).sum())
    return segments.clip(0, end), labels, clipped, dropped
