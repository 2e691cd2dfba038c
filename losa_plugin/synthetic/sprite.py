"""An object on screen: its look (shape, size, colour), its frames and its pose per frame.

Actors and distractors are both sprites drawn from the same appearance distribution.
Drawing is vectorised over frames and pixels with anti-aliased edges.
"""
from dataclasses import dataclass

import numpy as np

from .motions import Track

SHAPES = ('rect', 'ellipse')


@dataclass
class Sprite:
    """One object.

    Args:
        shape (str): ``'rect'`` or ``'ellipse'``.
        half_length (float): half of the long axis in pixels at scale 1.
        half_width (float): half of the short axis in pixels at scale 1.
        colour (np.ndarray): [3] float RGB, 0-255.
        first_frame (int): video frame of ``track[0]``.
        track (Track): pose per frame, ``n`` frames from ``first_frame``.
    """
    shape: str
    half_length: float
    half_width: float
    colour: np.ndarray
    first_frame: int
    track: Track

    @property
    def last_frame(self) -> int:
        """One past the last frame the sprite exists in."""
        return self.first_frame + len(self.track.cx)

    def draw(self, canvas: np.ndarray, start: int, camera: np.ndarray) -> None:
        """Blend the sprite into ``canvas`` in place.

        Args:
            canvas: [n, H, W, 3] float32, frames ``start .. start+n-1`` of the video.
            start: video frame of ``canvas[0]``.
            camera: [n, 2] camera offset (x, y) in pixels of those frames: the pixel
                ``(i, j)`` shows the world point ``(j + x, i + y)``.
        """
        lo, hi = max(start, self.first_frame), min(start + len(canvas), self.last_frame)
        if lo >= hi:
            return
        sel = slice(lo - self.first_frame, hi - self.first_frame)
        cam = camera[lo - start:hi - start]
        # object centre in pixel coordinates, [m]
        px = self.track.cx[sel] - cam[:, 0]
        py = self.track.cy[sel] - cam[:, 1]
        # only the pixels the object can reach in these frames (bounding box of the chunk)
        reach = self.half_length * float(self.track.scale[sel].max()) + 1.5
        h, w = canvas.shape[1:3]
        x0, x1 = max(0, int(np.floor(px.min() - reach))), min(w, int(np.ceil(px.max() + reach)) + 1)
        y0, y1 = max(0, int(np.floor(py.min() - reach))), min(h, int(np.ceil(py.max() + reach)) + 1)
        if x0 >= x1 or y0 >= y1:
            return
        col = np.arange(x0, x1, dtype=np.float32)[None, None, :]
        row = np.arange(y0, y1, dtype=np.float32)[None, :, None]
        f32 = lambda a: a.astype(np.float32)[:, None, None]  # noqa: E731
        dx, dy = col - f32(px), row - f32(py)
        angle = self.track.angle[sel]
        cos, sin = f32(np.cos(angle)), f32(np.sin(angle))
        u = dx * cos + dy * sin  # along the long axis
        v = dy * cos - dx * sin  # along the short axis
        scale = f32(self.track.scale[sel])
        a, b = np.float32(self.half_length) * scale, np.float32(self.half_width) * scale
        if self.shape == 'rect':
            inside = np.minimum(a - np.abs(u), b - np.abs(v))
        else:
            # distance to the boundary along the short axis, to first order
            inside = (1.0 - np.sqrt((u / a)**2 + (v / b)**2)) * b
        cover = (np.clip(inside + 0.5, 0.0, 1.0) * f32(self.track.alpha[sel]))[..., None]
        view = canvas[lo - start:hi - start, y0:y1, x0:x1]
        view += (self.colour.astype(np.float32) - view) * cover


def sample_look(rng: np.random.Generator, cfg, background_mean: np.ndarray) -> dict:
    """Shape, size and a colour far enough from the background (``cfg.min_contrast``).

    Returns:
        dict with ``shape``, ``half_length``, ``half_width``, ``colour`` ([3] float).
    """
    side = min(cfg.height, cfg.width)
    length = rng.uniform(*cfg.object_length) * side
    aspect = rng.uniform(*cfg.object_aspect)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = rng.uniform(0, 255, size=3)
    for _ in range(64):
        if np.linalg.norm(colour - background_mean) >= cfg.min_contrast:
            break
        colour = rng.uniform(0, 255, size=3)
    else:
        # push away from the background along the difference (rare: mid-grey backgrounds)
        d = colour - background_mean
        colour = np.clip(background_mean + d / (np.linalg.norm(d) + 1e-6) * cfg.min_contrast,
                         0, 255)
    return dict(shape=shape, half_length=length / 2, half_width=length / (2 * aspect),
                colour=colour)
