"""The action classes: each is a motion over time of one object, never a look.

A motion maps the frame times of an action to the object's pose per frame (a
:class:`Track`). Classes come in mirror pairs (right / left, clockwise /
counter-clockwise, grow / shrink): the two members of a pair draw their poses from the
same distribution, so any single frame is equally likely under both, and only the
direction of change over time separates them.

Coordinates: pixels, x to the right, y downwards. An angle grows from +x towards +y,
which is clockwise on screen.
"""
from typing import Callable, Dict, NamedTuple

import numpy as np


class Track(NamedTuple):
    """Pose of one object per frame; every field is ``[n]`` float64.

    cx, cy: centre in pixels. angle: long-axis orientation in radians.
    scale: size multiplier. alpha: opacity in [0, 1] (0 = not drawn).
    """
    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    alpha: np.ndarray


MotionFn = Callable[[np.random.Generator, np.ndarray, dict], Track]
MOTIONS: Dict[str, MotionFn] = {}


def register_motion(name: str) -> Callable[[MotionFn], MotionFn]:
    """Add a motion to :data:`MOTIONS` under ``name`` (a class name in configs)."""

    def wrap(fn: MotionFn) -> MotionFn:
        if name in MOTIONS:
            raise KeyError(f'motion {name!r} is already registered')
        MOTIONS[name] = fn
        return fn

    return wrap


def hold(track: Track, index: int, n: int) -> Track:
    """A still, fully visible object in the pose of ``track`` at ``index``, ``n`` frames."""
    return Track(*(np.full(n, f[index], dtype=np.float64) for f in track[:4]),
                 alpha=np.ones(n, dtype=np.float64))


def _uniform(rng: np.random.Generator, r) -> float:
    return float(rng.uniform(r[0], r[1]))


def _start_pose(rng: np.random.Generator, ctx: dict, n: int):
    """Centre anywhere the object fits; random orientation."""
    h, w, m = ctx['height'], ctx['width'], ctx['margin']
    cx = np.full(n, rng.uniform(m, max(m, w - m)))
    cy = np.full(n, rng.uniform(m, max(m, h - m)))
    angle = np.full(n, rng.uniform(0, np.pi))
    return cx, cy, angle


def _wrap(v: np.ndarray, size: float, margin: float) -> np.ndarray:
    """Leave one side, re-enter from the other (so long moves keep one direction)."""
    return np.mod(v + margin, size + 2 * margin) - margin


def _move(rng: np.random.Generator, t: np.ndarray, ctx: dict, sign: float) -> Track:
    cfg, n = ctx['cfg'], len(t)
    cx, cy, angle = _start_pose(rng, ctx, n)
    speed = _uniform(rng, cfg.move_speed) * ctx['width']
    tilt = np.deg2rad(rng.uniform(-cfg.move_tilt, cfg.move_tilt))
    m = ctx['margin']
    cx = _wrap(cx + sign * speed * np.cos(tilt) * t, ctx['width'], m)
    cy = _wrap(cy + speed * np.sin(tilt) * t, ctx['height'], m)
    return Track(cx, cy, angle, np.ones(n), np.ones(n))


@register_motion('MoveRight')
def move_right(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Translate left to right (within ``cfg.move_tilt`` of horizontal), wrapping."""
    return _move(rng, t, ctx, 1.0)


@register_motion('MoveLeft')
def move_left(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Translate right to left, the mirror of ``MoveRight``."""
    return _move(rng, t, ctx, -1.0)


def _rotate(rng: np.random.Generator, t: np.ndarray, ctx: dict, sign: float) -> Track:
    n = len(t)
    cx, cy, angle = _start_pose(rng, ctx, n)
    omega = np.deg2rad(_uniform(rng, ctx['cfg'].rotate_speed))
    return Track(cx, cy, angle + sign * omega * t, np.ones(n), np.ones(n))


@register_motion('RotateClockwise')
def rotate_clockwise(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Spin in place, clockwise on screen."""
    return _rotate(rng, t, ctx, 1.0)


@register_motion('RotateCounterClockwise')
def rotate_counter_clockwise(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Spin in place, counter-clockwise on screen."""
    return _rotate(rng, t, ctx, -1.0)


def _sawtooth_scale(rng: np.random.Generator, t: np.ndarray, ctx: dict, grow: bool) -> Track:
    # A sawtooth: slow monotone change, then a snap back; long actions repeat the cycle.
    cfg, n = ctx['cfg'], len(t)
    cx, cy, angle = _start_pose(rng, ctx, n)
    lo, hi = cfg.scale_range
    phase = np.mod(rng.uniform() + t / _uniform(rng, cfg.scale_period), 1.0)
    scale = lo + (hi - lo) * (phase if grow else 1.0 - phase)
    return Track(cx, cy, angle, scale, np.ones(n))


@register_motion('Grow')
def grow(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Expand steadily (``cfg.scale_range``), snapping back once per period."""
    return _sawtooth_scale(rng, t, ctx, True)


@register_motion('Shrink')
def shrink(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Contract steadily, snapping back once per period: ``Grow`` played backwards."""
    return _sawtooth_scale(rng, t, ctx, False)


@register_motion('Blink')
def blink(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Switch on and off at ``cfg.blink_freq`` Hz (half the period visible)."""
    n = len(t)
    cx, cy, angle = _start_pose(rng, ctx, n)
    phase = np.mod(rng.uniform(0, 0.5) + t * _uniform(rng, ctx['cfg'].blink_freq), 1.0)
    return Track(cx, cy, angle, np.ones(n), (phase < 0.5).astype(np.float64))


def _orbit(rng: np.random.Generator, t: np.ndarray, ctx: dict, sign: float) -> Track:
    n, h, w, m = len(t), ctx['height'], ctx['width'], ctx['margin']
    radius = rng.uniform(0.15, 0.25) * min(h, w)
    ox = rng.uniform(min(radius + m, w / 2), max(w - radius - m, w / 2))
    oy = rng.uniform(min(radius + m, h / 2), max(h - radius - m, h / 2))
    phi = rng.uniform(0, 2 * np.pi) + sign * np.deg2rad(_uniform(rng, ctx['cfg'].orbit_speed)) * t
    angle = np.full(n, rng.uniform(0, np.pi))
    return Track(ox + radius * np.cos(phi), oy + radius * np.sin(phi), angle, np.ones(n),
                 np.ones(n))


@register_motion('OrbitClockwise')
def orbit_clockwise(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Travel a circle clockwise on screen, orientation fixed."""
    return _orbit(rng, t, ctx, 1.0)


@register_motion('OrbitCounterClockwise')
def orbit_counter_clockwise(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """Travel a circle counter-clockwise on screen."""
    return _orbit(rng, t, ctx, -1.0)


def wander(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """A distractor's path: two slow incommensurate oscillations per axis and a slight
    wobble of orientation, so it moves without a consistent direction, slower than the
    slowest ``Move*`` action."""
    cfg, n = ctx['cfg'], len(t)
    cx, cy, angle = _start_pose(rng, ctx, n)
    amp = cfg.wander_amplitude * min(ctx['height'], ctx['width'])
    offsets = []
    for _ in range(2):
        periods = rng.uniform(*cfg.wander_period, size=2)
        phases = rng.uniform(0, 2 * np.pi, size=2)
        weights = rng.dirichlet([1.0, 1.0])
        offsets.append(amp * np.sum(
            weights[:, None] * np.sin(2 * np.pi * t[None] / periods[:, None] + phases[:, None]),
            axis=0))
    wobble = 0.3 * np.sin(2 * np.pi * t / rng.uniform(*cfg.wander_period) + rng.uniform(0, 6.3))
    return Track(cx + offsets[0], cy + offsets[1], angle + wobble, np.ones(n), np.ones(n))


def still(rng: np.random.Generator, t: np.ndarray, ctx: dict) -> Track:
    """A static object (a distractor, or an actor before / after its action)."""
    n = len(t)
    cx, cy, angle = _start_pose(rng, ctx, n)
    return Track(cx, cy, angle, np.ones(n), np.ones(n))
