"""One video's scene (background, actors, distractors, camera) and its rendering.

Every random choice of a video comes from one ``numpy.random.Generator``, drawn in a
fixed order, so a seed fixes the video.
"""
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import List, NamedTuple

import numpy as np

from .background import Background
from .motions import MOTIONS, Track, hold, still, wander
from .sprite import Sprite, sample_look


# standard normal quantiles at the centres of 256 equal-probability bins
_GAUSS_LUT = np.array([NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)],
                      dtype=np.float32)


class ActionSpec(NamedTuple):
    """One action instance in frame units.

    label (int): class index. start, end (int): frames ``start .. end-1`` show the
    motion. lead, tail (int): frames the actor stands still before / after.
    """
    label: int
    start: int
    end: int
    lead: int = 0
    tail: int = 0


@dataclass
class Scene:
    """Everything needed to render a video of ``num_frames`` frames.

    Args:
        num_frames (int): frames.
        background (Background): the backdrop.
        sprites (list[Sprite]): drawn in order (later on top).
        camera (np.ndarray): [num_frames, 2] camera offset (x, y) in pixels.
        illumination (np.ndarray): [num_frames] brightness offset, 0-255 scale.
        noise_std (float): per-pixel Gaussian noise.
    """
    num_frames: int
    background: Background
    sprites: List[Sprite] = field(default_factory=list)
    camera: np.ndarray = None
    illumination: np.ndarray = None
    noise_std: float = 0.0


def _ctx(cfg, look: dict) -> dict:
    # margin: how far the centre keeps from the border so the object starts in view
    margin = look['half_length'] * max(1.0, cfg.scale_range[1])
    return dict(cfg=cfg, height=cfg.height, width=cfg.width, margin=margin)


def _concat(*tracks: Track) -> Track:
    return Track(*(np.concatenate(parts) for parts in zip(*tracks)))


def ramp_clock(num_frames: int, fps: float, ramp_in: float, ramp_out: float) -> np.ndarray:
    """The motion clock of an action with gradual onset and end, ``[num_frames]`` seconds.

    The motion's speed rises linearly from 0 to 1 over the first ``ramp_in`` seconds and
    falls back to 0 over the last ``ramp_out`` (each at most half the action), so the
    clock is the integral of that speed: ``tau(t) = t - e_in(t) - e_out(t)`` with
    ``e_in = m - m**2 / (2 r_in)``, ``m = min(t, r_in)``, and ``e_out = a**2 / (2 r_out)``,
    ``a = max(0, t - (D - r_out))``, ``D = num_frames / fps``. With both ramps at zero it
    is the plain clock ``t = k / fps``.
    """
    t = np.arange(num_frames) / fps
    duration = num_frames / fps
    r_in, r_out = min(ramp_in, duration / 2), min(ramp_out, duration / 2)
    tau = t.copy()
    if r_in > 0:
        m = np.minimum(t, r_in)
        tau -= m - m**2 / (2 * r_in)
    if r_out > 0:
        a = np.maximum(0.0, t - (duration - r_out))
        tau -= a**2 / (2 * r_out)
    return tau


def _smooth_signal(rng: np.random.Generator, t: np.ndarray, freqs, k: int) -> np.ndarray:
    """Sum of ``k`` sinusoids with random frequencies in ``freqs`` Hz, unit-ish amplitude."""
    f = rng.uniform(*freqs, size=k)
    phase = rng.uniform(0, 2 * np.pi, size=k)
    return np.sin(2 * np.pi * f[:, None] * t[None] + phase[:, None]).sum(0) / np.sqrt(k)


def build_scene(rng: np.random.Generator, cfg, num_frames: int, actions: List[ActionSpec],
                idle_actors: int = 0) -> Scene:
    """Sample the scene of one video.

    Args:
        rng: the video's generator.
        cfg (SyntheticConfig): the knobs.
        num_frames: frames of the video.
        actions: the actions to perform, one actor each; the actor exists on frames
            ``start - lead .. end + tail - 1``.
        idle_actors: extra objects that stand still for the whole video (the
            ``'Background'`` class of trimmed clips).
    """
    fps = float(cfg.fps)
    background = Background.sample(rng, cfg)
    scene = Scene(num_frames, background, noise_std=cfg.noise_std)
    actors = []
    for act in actions:
        if not (0 <= act.start - act.lead and act.start < act.end
                and act.end + act.tail <= num_frames):
            raise ValueError(f'action {act} does not fit a video of {num_frames} frames')
        look = sample_look(rng, cfg, background.mean_colour)
        motion = MOTIONS[cfg.classes[act.label]]
        clock = np.arange(act.end - act.start) / fps
        if cfg.ramp_in[1] > 0 or cfg.ramp_out[1] > 0:
            # drawn only when ramps are on, so data without them stays as it was
            clock = ramp_clock(act.end - act.start, fps, rng.uniform(*cfg.ramp_in),
                               rng.uniform(*cfg.ramp_out))
        track = motion(rng, clock, _ctx(cfg, look))
        parts = [hold(track, 0, act.lead), track, hold(track, -1, act.tail)]
        actors.append(Sprite(first_frame=act.start - act.lead, track=_concat(*parts), **look))
    for _ in range(idle_actors):
        look = sample_look(rng, cfg, background.mean_colour)
        actors.append(Sprite(first_frame=0,
                             track=still(rng, np.arange(num_frames) / fps, _ctx(cfg, look)),
                             **look))
    distractors = []
    for count, path in ((cfg.static_distractors, still), (cfg.moving_distractors, wander)):
        for _ in range(int(rng.integers(count[0], count[1] + 1))):
            look = sample_look(rng, cfg, background.mean_colour)
            # half of them stay for the whole video, the others come and go, so an object
            # appearing or leaving says nothing about an action
            if rng.uniform() < 0.5:
                first, n = 0, num_frames
            else:
                n = int(rng.integers(min(num_frames, int(2 * fps)), num_frames + 1))
                first = int(rng.integers(0, num_frames - n + 1))
            track = path(rng, np.arange(n) / fps, _ctx(cfg, look))
            distractors.append(Sprite(first_frame=first, track=track, **look))
    # actors on top: a distractor never hides the evidence of an action
    scene.sprites = distractors + actors
    t = np.arange(num_frames) / fps
    scene.camera = cfg.camera_jitter * np.stack(
        [_smooth_signal(rng, t, (0.3, 2.0), 3), _smooth_signal(rng, t, (0.3, 2.0), 3)], axis=1)
    scene.illumination = cfg.illumination_drift * _smooth_signal(rng, t, (0.05, 0.25), 1)
    return scene


def render_scene(scene: Scene, rng: np.random.Generator, height: int, width: int,
                 chunk: int = 64) -> np.ndarray:
    """Render all frames.

    Args:
        scene: from :func:`build_scene`.
        rng: generator for the pixel noise (drawn after the scene).
        height, width: frame size.
        chunk: frames rendered at once (bounds memory).
    Returns:
        [num_frames, height, width, 3] uint8 RGB.
    """
    # The backdrop is static in the world: render it once with a border wide enough for
    # the shake, then shift it per frame by bilinear interpolation.
    pad = int(np.ceil(np.abs(scene.camera).max(initial=0.0))) + 1
    ys, xs = np.mgrid[-pad:height + pad + 1, -pad:width + pad + 1].astype(np.float64)
    backdrop = scene.background.render(xs[None], ys[None])[0]
    out = np.empty((scene.num_frames, height, width, 3), dtype=np.uint8)
    for start in range(0, scene.num_frames, chunk):
        stop = min(start + chunk, scene.num_frames)
        cam = scene.camera[start:stop]
        canvas = np.empty((stop - start, height, width, 3), dtype=np.float32)
        for k, (cx, cy) in enumerate(cam):
            ix, iy = int(np.floor(cx)), int(np.floor(cy))
            fx, fy = np.float32(cx - ix), np.float32(cy - iy)
            b = backdrop[iy + pad:iy + pad + height + 1, ix + pad:ix + pad + width + 1]
            top = b[:-1, :-1] * (1 - fx) + b[:-1, 1:] * fx
            bottom = b[1:, :-1] * (1 - fx) + b[1:, 1:] * fx
            canvas[k] = top * (1 - fy) + bottom * fy
        for sprite in scene.sprites:
            sprite.draw(canvas, start, cam)
        canvas += scene.illumination[start:stop, None, None, None].astype(np.float32)
        if scene.noise_std > 0:
            # Gaussian noise quantised to 256 levels through a lookup table: random bytes
            # are several times cheaper than normal variates and look the same after
            # rounding to uint8
            idx = np.frombuffer(rng.bytes(canvas.size), dtype=np.uint8).reshape(canvas.shape)
            canvas += _GAUSS_LUT[idx] * np.float32(scene.noise_std)
        out[start:stop] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return out
