"""Trimmed clips, one action filling each, for pretraining a recognizer (MMAction2
``VideoDataset`` lists: ``relative/path.mp4 label`` per line)."""
import os
from typing import Optional, Tuple

import numpy as np
from mmengine.logging import MMLogger

from .config import BACKGROUND_CLASS, SyntheticConfig
from .scene import ActionSpec, build_scene, render_scene
from .untrimmed import video_rng, write_class_list
from .video_writer import write_mp4


def render_trimmed(seed: int, label: int, index: int, cfg: SyntheticConfig) -> np.ndarray:
    """Frames [T, H, W, 3] uint8 of clip ``index`` of motion ``label`` (an index into
    ``cfg.classes``).

    ``label == len(cfg.classes)`` (with ``cfg.with_background``) renders a background
    clip: one still object plus the usual distractors, no action.
    """
    rng = video_rng(seed, 'trimmed', label, index)
    num_frames = int(round(rng.uniform(*cfg.clip_duration) * float(cfg.fps)))
    if label < len(cfg.classes):
        scene = build_scene(rng, cfg, num_frames, [ActionSpec(label, 0, num_frames)])
    elif cfg.with_background and label == len(cfg.classes):
        scene = build_scene(rng, cfg, num_frames, [], idle_actors=1)
    else:
        raise ValueError(f'render_trimmed: label {label} outside the {len(cfg.label_names)} '
                         f'classes {cfg.label_names}')
    return render_scene(scene, rng, cfg.height, cfg.width)


def generate_trimmed(out_dir: str, num_per_class: int, seed: int = 0,
                     cfg: Optional[SyntheticConfig] = None,
                     progress: bool = False) -> Tuple[str, str]:
    """Write trimmed clips and the train / val lists.

    Layout: ``out_dir/clips/<Motion>/<Motion>_<index>.mp4``; ``out_dir/train_list.txt``
    and ``out_dir/val_list.txt`` with paths relative to ``out_dir/clips`` (use it as
    ``data_prefix=dict(video=...)``) and the clip's label (``cfg.motion_label``: its
    group's with ``cfg.label_groups``); ``out_dir/classes.txt`` (``cfg.label_names``).
    The last ``round(num_per_class * cfg.val_fraction)`` clips of each motion (at least
    one when a motion has two or more) go to val.

    Args:
        out_dir: output directory (created).
        num_per_class: clips per motion (the ``'Background'`` class included).
        seed: fixes every clip; clip ``i`` of a class does not depend on ``num_per_class``.
        cfg: generator knobs; default :class:`SyntheticConfig`.
        progress: show mmengine's progress bar.

    Returns:
        (train list path, val list path).
    """
    cfg = cfg or SyntheticConfig()
    if num_per_class < 1:
        raise ValueError(f'generate_trimmed: num_per_class must be >= 1, got {num_per_class}')
    n_val = int(round(num_per_class * cfg.val_fraction))
    if num_per_class >= 2:
        n_val = min(max(n_val, 1), num_per_class - 1)
    motions = cfg.classes + ((BACKGROUND_CLASS, ) if cfg.with_background else ())
    os.makedirs(out_dir, exist_ok=True)
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(motions) * num_per_class)
    lines = {'train': [], 'val': []}
    for motion, name in enumerate(motions):
        label = cfg.motion_label(motion)
        for i in range(num_per_class):
            rel = f'{name}/{name}_{i:05d}.mp4'
            frames = render_trimmed(seed, motion, i, cfg)
            write_mp4(os.path.join(out_dir, 'clips', rel), frames, cfg.fps, cfg.codec, cfg.crf)
            split = 'val' if i >= num_per_class - n_val else 'train'
            lines[split].append(f'{rel} {label}\n')
            if bar is not None:
                bar.update()
    paths = []
    for split in ('train', 'val'):
        path = os.path.join(out_dir, f'{split}_list.txt')
        with open(path, 'w') as f:
            f.write(''.join(lines[split]))
        paths.append(path)
    write_class_list(os.path.join(out_dir, 'classes.txt'), cfg.label_names)
    MMLogger.get_current_instance().info(
        f'synthetic: wrote {len(motions) * num_per_class} trimmed clips ({len(lines["train"])} '
        f'train, {len(lines["val"])} val) to {os.path.join(out_dir, "clips")}')
    return paths[0], paths[1]
