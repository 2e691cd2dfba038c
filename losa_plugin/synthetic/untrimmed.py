"""Untrimmed videos with a THUMOS-14-format annotation file."""
import json
import os
from typing import Optional, Tuple

import numpy as np
from mmengine.logging import MMLogger

from .config import SyntheticConfig
from .scene import build_scene, render_scene
from .timeline import plan_untrimmed
from .video_writer import write_mp4

SUBSETS = ('Validation', 'Test')  # THUMOS-14: train on 'Validation', evaluate on 'Test'
_ID_PREFIX = {'Validation': 'video_validation', 'Test': 'video_test'}
_STREAM = {'Validation': 0, 'Test': 1, 'trimmed': 2}  # keeps the random streams apart
ANN_VERSION = 'synthetic-tal-v1'


def video_rng(seed: int, stream: str, *index: int) -> np.random.Generator:
    """The generator of one video; it depends on the seed and the video's own index only,
    so adding videos never changes the existing ones."""
    return np.random.default_rng([int(seed), _STREAM[stream], *map(int, index)])


def split_counts(num_videos: int, test_fraction: float) -> Tuple[int, int]:
    """(Validation, Test) counts; both non-empty when ``num_videos >= 2``."""
    n_test = int(round(num_videos * test_fraction))
    if num_videos >= 2:
        n_test = min(max(n_test, 1), num_videos - 1)
    return num_videos - n_test, n_test


def render_untrimmed(seed: int, subset: str, index: int, cfg: SyntheticConfig):
    """Frames and annotations of one untrimmed video.

    Returns:
        (frames [T, H, W, 3] uint8, entry): ``entry`` is the video's ``database`` record.
    """
    rng = video_rng(seed, subset, index)
    num_frames, actions = plan_untrimmed(rng, cfg)
    scene = build_scene(rng, cfg, num_frames, actions)
    frames = render_scene(scene, rng, cfg.height, cfg.width)
    fps = float(cfg.fps)
    anns = [dict(label=cfg.classes[a.label],
                 segment=[round(a.start / fps, 4), round(a.end / fps, 4)],
                 **{'segment(frames)': [float(a.start), float(a.end)]},
                 label_id=int(a.label)) for a in actions]
    entry = dict(subset=subset, duration=round(num_frames / fps, 4), fps=fps,
                 annotations=anns)
    return frames, entry


def generate_untrimmed(out_dir: str, num_videos: int, seed: int = 0,
                       cfg: Optional[SyntheticConfig] = None, progress: bool = False) -> str:
    """Write untrimmed mp4 videos and their annotation file.

    Layout: ``out_dir/videos/<video_id>.mp4``, ``out_dir/annotations.json`` (the
    THUMOS-14 ``database`` format, read by ``load_tal_annotations``) and
    ``out_dir/classes.txt`` (one name a line, in label order).

    Args:
        out_dir: output directory (created).
        num_videos: total videos, split into ``'Validation'`` (training) and ``'Test'``
            by ``cfg.test_fraction``.
        seed: fixes every video; video ``i`` of a subset is the same whatever
            ``num_videos`` is.
        cfg: generator knobs; default :class:`SyntheticConfig`.
        progress: show mmengine's progress bar.

    Returns:
        Path of the annotation JSON.

    Segments are whole frames: an action on frames ``fs .. fe-1`` is
    ``segment = [fs / fps, fe / fps]`` and ``segment(frames) = [fs, fe]``.
    """
    cfg = cfg or SyntheticConfig()
    if num_videos < 1:
        raise ValueError(f'generate_untrimmed: num_videos must be >= 1, got {num_videos}')
    if cfg.label_groups is not None:
        raise ValueError('generate_untrimmed: label_groups merges labels of trimmed clips '
                         f'only; untrimmed videos are annotated per motion, got '
                         f'{cfg.label_groups}')
    video_dir = os.path.join(out_dir, 'videos')
    os.makedirs(video_dir, exist_ok=True)
    jobs = []
    for subset, count in zip(SUBSETS, split_counts(num_videos, cfg.test_fraction)):
        jobs += [(subset, i) for i in range(count)]
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(jobs))
    database = {}
    for subset, i in jobs:
        video_id = f'{_ID_PREFIX[subset]}_{i + 1:07d}'
        frames, entry = render_untrimmed(seed, subset, i, cfg)
        write_mp4(os.path.join(video_dir, f'{video_id}.mp4'), frames, cfg.fps, cfg.codec,
                  cfg.crf)
        database[video_id] = entry
        if bar is not None:
            bar.update()
    ann_file = os.path.join(out_dir, 'annotations.json')
    content = dict(version=ANN_VERSION, database=database,
                   generator=dict(seed=int(seed), config=cfg.to_dict()))
    with open(ann_file, 'w') as f:
        json.dump(content, f, indent=1)
    write_class_list(os.path.join(out_dir, 'classes.txt'), cfg.classes)
    MMLogger.get_current_instance().info(
        f'synthetic: wrote {len(database)} untrimmed videos to {video_dir}, '
        f'annotations {ann_file}')
    return ann_file


def write_class_list(path: str, names) -> None:
    with open(path, 'w') as f:
        f.write(''.join(f'{n}\n' for n in names))
