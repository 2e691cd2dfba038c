"""A picture of one video's detections: one row per class, time in seconds.

Each row shows the class's detections as bars shaded by score (a colour map from pale
to dark; higher scores are drawn last, so where detections overlap the strongest one
shows) and, when ground truth is given, its segments as a band just above them.
"""
from typing import Optional, Sequence

import numpy as np


def plot_detection_timeline(out_file: str,
                            segments: np.ndarray,
                            scores: np.ndarray,
                            labels: np.ndarray,
                            class_names: Sequence[str],
                            duration: float,
                            gt_segments: Optional[np.ndarray] = None,
                            gt_labels: Optional[np.ndarray] = None,
                            title: str = '',
                            score_range: tuple = (0.0, 1.0),
                            cmap: str = 'Blues') -> list:
    """Draw the timeline and save it (PNG, or any format matplotlib infers).

    Args:
        out_file: where to save.
        segments: [K, 2] detections in seconds.
        scores: [K].
        labels: [K] indices into ``class_names``.
        class_names: all class names.
        duration: the video's length in seconds (the x range; NaN = from the data).
        gt_segments: [G, 2] ground truth in seconds, or None.
        gt_labels: [G] class indices, or None.
        title: figure title.
        score_range: scores mapped to the ends of the colour map.
        cmap: matplotlib colour map of the detection bars.

    Returns:
        The class indices drawn as rows, top to bottom: classes with a detection or a
        ground-truth segment, in class order.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    segments = np.asarray(segments, np.float64).reshape(-1, 2)
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(labels, np.int64).reshape(-1)
    has_gt = gt_segments is not None
    gt_segments = np.asarray(gt_segments if has_gt else np.zeros((0, 2)),
                             np.float64).reshape(-1, 2)
    gt_labels = np.asarray(gt_labels if has_gt else np.zeros(0), np.int64).reshape(-1)
    rows = sorted(set(labels.tolist()) | set(gt_labels.tolist()))
    if not np.isfinite(duration):
        ends = np.concatenate([segments[:, 1], gt_segments[:, 1], [1.0]])
        duration = float(ends.max())

    height = 1.4 + 0.42 * max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(12, height))
    norm = Normalize(*score_range)
    colours = plt.get_cmap(cmap)
    det_h, gt_h = (0.55, 0.25) if has_gt else (0.8, 0.0)
    for y, c in enumerate(rows):
        base = len(rows) - 1 - y  # first class on top
        mine = np.nonzero(labels == c)[0]
        for i in mine[np.argsort(scores[mine], kind='stable')]:  # strongest drawn last
            s, e = segments[i]
            ax.broken_barh([(s, max(e - s, 1e-3))], (base - 0.4, det_h),
                           facecolors=colours(0.15 + 0.85 * norm(scores[i])),
                           edgecolor='none')
        if has_gt:
            for s, e in gt_segments[gt_labels == c]:
                ax.broken_barh([(s, max(e - s, 1e-3))], (base - 0.4 + det_h + 0.05, gt_h),
                               facecolors='tab:orange', edgecolor='black', linewidth=0.4)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([class_names[c] for c in reversed(rows)])
    ax.set_ylim(-0.6, max(len(rows), 1) - 0.4)
    ax.set_xlim(0, duration)
    ax.set_xlabel('time (s)')
    ax.grid(axis='x', alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=colours)
    fig.colorbar(mappable, ax=ax, pad=0.01, fraction=0.03).set_label('score')
    if has_gt:
        from matplotlib.patches import Patch
        ax.legend(handles=[Patch(facecolor='tab:orange', edgecolor='black',
                                 label='ground truth (upper band)'),
                           Patch(facecolor=colours(0.7), label='detections')],
                  loc='upper right', fontsize=8, framealpha=0.8,
                  bbox_to_anchor=(1.0, 1.0 + 0.9 / height), ncol=2)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
    return rows
