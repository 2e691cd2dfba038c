"""A procedural, per-video background: a colour gradient, gratings and smooth colour noise.

It is a function of world coordinates, so camera shake moves it together with the
objects (as a real camera would), and it is evaluated for all frames at once.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class Background:
    """Background of one video.

    Args:
        colour0, colour1 (np.ndarray): [3] RGB 0-255 at the two ends of the gradient.
        direction (float): gradient direction, radians.
        gratings (np.ndarray): [K, 4] rows ``(cycles per frame, orientation, phase,
            amplitude)``: luminance stripes added to all channels.
        noise (np.ndarray): [gh, gw, 3] smooth colour noise, bilinearly interpolated over
            the frame.
        size (tuple[int, int]): (height, width) of the frame.
    """
    colour0: np.ndarray
    colour1: np.ndarray
    direction: float
    gratings: np.ndarray
    noise: np.ndarray
    size: tuple

    @property
    def mean_colour(self) -> np.ndarray:
        return (self.colour0 + self.colour1) / 2

    @classmethod
    def sample(cls, rng: np.random.Generator, cfg) -> 'Background':
        """Random background; ``cfg.texture_contrast`` sets the texture amplitude."""
        colour0 = rng.uniform(20, 235, size=3)
        # a gentle gradient keeps one colour distance check valid for the whole frame
        step = rng.normal(size=3)
        colour1 = np.clip(colour0 + step / np.linalg.norm(step) * rng.uniform(10, 60), 0, 255)
        k = int(rng.integers(1, 4))
        gratings = np.stack([
            rng.uniform(1.5, 6.0, size=k), rng.uniform(0, np.pi, size=k),
            rng.uniform(0, 2 * np.pi, size=k),
            rng.uniform(0.2, 0.5, size=k) * cfg.texture_contrast], axis=1)
        noise = rng.uniform(-0.5, 0.5, size=(6, 6, 3)) * cfg.texture_contrast
        return cls(colour0, colour1, float(rng.uniform(0, 2 * np.pi)), gratings, noise,
                   (cfg.height, cfg.width))

    def render(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Colours at world coordinates.

        Args:
            xs, ys: [n, H, W] pixel coordinates (same shape).
        Returns:
            [n, H, W, 3] float32, 0-255 before clipping.
        """
        h, w = self.size
        side = float(max(h, w))
        g = ((xs - w / 2) * np.cos(self.direction) + (ys - h / 2) * np.sin(self.direction))
        g = np.clip(g / side + 0.5, 0.0, 1.0)[..., None]
        out = self.colour0 + (self.colour1 - self.colour0) * g
        lum = np.zeros(xs.shape, dtype=np.float64)
        for cycles, theta, phase, amp in self.gratings:
            proj = (xs * np.cos(theta) + ys * np.sin(theta)) / side
            lum += amp * np.sin(2 * np.pi * cycles * proj + phase)
        out = out + lum[..., None] + self._noise(xs, ys)
        return out.astype(np.float32)

    def _noise(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        gh, gw, _ = self.noise.shape
        h, w = self.size
        # grid spans the frame; coordinates outside (camera shake) clamp to the border
        gx = np.clip(xs / w * (gw - 1), 0, gw - 1 - 1e-6)
        gy = np.clip(ys / h * (gh - 1), 0, gh - 1 - 1e-6)
        x0, y0 = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
        fx, fy = (gx - x0)[..., None], (gy - y0)[..., None]
        n = self.noise
        top = n[y0, x0] * (1 - fx) + n[y0, x0 + 1] * fx
        bottom = n[y0 + 1, x0] * (1 - fx) + n[y0 + 1, x0 + 1] * fx
        return top * (1 - fy) + bottom * fy
