"""Statistics of a generated set: counts and action lengths in seconds and clips."""
from collections import Counter
from typing import Dict

import numpy as np

from ..datasets.tal_annotation import load_database, resolve_class_names

# action length in backbone clips: below one clip, one to two, ...
CLIP_BINS = (0, 1, 2, 4, 8, np.inf)


def summarize_untrimmed(ann_file: str, clip_len: int = 16) -> Dict[str, dict]:
    """Per subset: videos, actions, actions per class, length statistics.

    Args:
        ann_file: annotation JSON written by :func:`generate_untrimmed`.
        clip_len: frames per backbone clip (lengths are also given in clips).

    Returns:
        ``{subset: dict(videos, actions, per_class, duration_s, length_s, length_clips,
        clip_histogram, coverage)}``; ``length_*`` hold min / median / mean / max,
        ``clip_histogram`` maps a ``'[a, b)'`` clip range to a count, ``coverage`` is the
        fraction of video time inside an action.
    """
    database = load_database(ann_file)
    classes = resolve_class_names(database, None, ann_file)
    out = {}
    for subset in sorted({e['subset'] for e in database.values()}):
        entries = [e for e in database.values() if e['subset'] == subset]
        lengths, clips, per_class, covered = [], [], Counter(), 0.0
        for e in entries:
            mask = np.zeros(int(round(e['duration'] * e['fps'])), dtype=bool)
            for a in e['annotations']:
                s, t = a['segment']
                lengths.append(t - s)
                clips.append((t - s) * e['fps'] / clip_len)
                per_class[a['label']] += 1
                fs, fe = a['segment(frames)']
                mask[int(fs):int(fe)] = True
            covered += mask.mean()
        hist = np.histogram(clips, bins=CLIP_BINS)[0]
        out[subset] = dict(
            videos=len(entries), actions=len(lengths),
            per_class={c: per_class.get(c, 0) for c in classes},
            duration_s=_stats([e['duration'] for e in entries]),
            length_s=_stats(lengths), length_clips=_stats(clips),
            clip_histogram={f'[{a}, {b})': int(n)
                            for a, b, n in zip(CLIP_BINS[:-1], CLIP_BINS[1:], hist)},
            coverage=covered / max(len(entries), 1))
    return out


def summarize_trimmed(list_file: str, class_names) -> Dict[str, int]:
    """Clips per class name in an MMAction2 ``VideoDataset`` list."""
    counts = Counter()
    with open(list_file) as f:
        for line in f:
            if line.strip():
                counts[class_names[int(line.split()[-1])]] += 1
    return {c: counts.get(c, 0) for c in class_names}


def _stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return dict(min=0.0, median=0.0, mean=0.0, max=0.0)
    return dict(min=float(v.min()), median=float(np.median(v)), mean=float(v.mean()),
                max=float(v.max()))


def format_summary(untrimmed: Dict[str, dict], trimmed: Dict[str, Dict[str, int]] = None) -> str:
    """Readable text of :func:`summarize_untrimmed` (and per-split trimmed counts)."""
    lines = []
    for subset, s in untrimmed.items():
        ls, lc, d = s['length_s'], s['length_clips'], s['duration_s']
        lines += [
            f'untrimmed {subset}: {s["videos"]} videos ({d["min"]:.1f}-{d["max"]:.1f} s, '
            f'mean {d["mean"]:.1f}), {s["actions"]} actions, '
            f'{100 * s["coverage"]:.0f}% of time in actions',
            '  per class: ' + ', '.join(f'{k} {v}' for k, v in s['per_class'].items()),
            f'  length s: min {ls["min"]:.2f} median {ls["median"]:.2f} mean {ls["mean"]:.2f} '
            f'max {ls["max"]:.2f}',
            f'  length clips: min {lc["min"]:.2f} median {lc["median"]:.2f} '
            f'mean {lc["mean"]:.2f} max {lc["max"]:.2f}',
            '  clips histogram: ' + ', '.join(f'{k} {v}' for k, v in s['clip_histogram'].items()),
        ]
    for split, counts in (trimmed or {}).items():
        lines.append(f'trimmed {split}: {sum(counts.values())} clips: '
                     + ', '.join(f'{k} {v}' for k, v in counts.items()))
    return '\n'.join(lines)
