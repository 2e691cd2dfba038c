"""Where the actions of an untrimmed video fall: lengths, gaps, light overlaps, classes."""
from typing import List, Tuple

import numpy as np

from .scene import ActionSpec


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A length whose logarithm is uniform: as many 0.5-1 s actions as 5-10 s ones."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def plan_untrimmed(rng: np.random.Generator, cfg) -> Tuple[int, List[ActionSpec]]:
    """Sample a video length and its actions.

    Actions follow each other separated by ``cfg.gap`` seconds; with probability
    ``cfg.overlap_prob`` one starts before the previous ends (by at most
    ``cfg.max_overlap`` of the shorter). Classes cycle through shuffled class lists, so
    a video's classes are balanced. Every video has at least one action.

    Returns:
        (number of frames, actions sorted by start), boundaries in whole frames.
    """
    fps = float(cfg.fps)
    num_frames = int(round(rng.uniform(*cfg.video_duration) * fps))
    duration = num_frames / fps
    lo, hi = cfg.action_duration
    limit = duration - cfg.gap[0]  # keep a little background at the end
    spans: List[Tuple[float, float]] = []
    cursor = rng.uniform(*cfg.gap)
    while True:
        length = log_uniform(rng, lo, hi)
        start = cursor
        if spans and rng.uniform() < cfg.overlap_prob:
            prev_start, prev_end = spans[-1]
            start = prev_end - rng.uniform(0, cfg.max_overlap) * min(length, prev_end - prev_start)
        if start + length > limit:
            room = limit - start
            if room < lo:
                break
            # the remaining room is too short for this draw; take the largest that fits so
            # the end of a video is not systematically empty
            length = log_uniform(rng, lo, min(hi, room))
        spans.append((start, start + length))
        cursor = start + length + rng.uniform(*cfg.gap)
    if not spans:
        raise ValueError(f'SyntheticConfig: no action fits a {duration:.1f} s video; check '
                         f'video_duration={cfg.video_duration}, gap={cfg.gap}, '
                         f'action_duration={cfg.action_duration}')
    n_cls = len(cfg.classes)
    labels = np.concatenate([rng.permutation(n_cls) for _ in range(len(spans) // n_cls + 1)])
    actions = []
    for (s, e), label in zip(spans, labels):
        start = int(round(s * fps))
        end = max(int(round(e * fps)), start + 2)
        lead = min(start, int(round(rng.uniform(*cfg.idle_lead) * fps)))
        tail = min(num_frames - end, int(round(rng.uniform(*cfg.idle_tail) * fps)))
        actions.append(ActionSpec(int(label), start, end, lead, tail))
    return num_frames, actions
