"""Free-form brush strokes, re-written from two published mask generators (our code, same sampling rules).

- LaMa, ``make_random_irregular_mask`` (Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier
  Convolutions", WACV 2022; https://github.com/advimman/lama, saicinpainting/training/data/masks.py): a random start,
  1-5 straight segments, each with angle ``0.01 + randint(4)`` rad (mirrored to ``2*pi - angle`` on even strokes),
  length ``10 + randint(max_len)`` and width ``5 + randint(max_width)``. Presets are given for 512 px images and
  scaled here by ``min(H, W) / 512``.
- DeepFill v2 free-form masks (Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019;
  https://github.com/JiahuiYu/generative_inpainting, ``brush_stroke_mask``): 4-11 vertices, turning angles around
  ``2*pi/5 +- 2*pi/15`` alternating in sign, step length ``clip(N(r, r/2), 0, 2r)`` with ``r = sqrt(H^2 + W^2) / 8``,
  width ``U(12, 40)`` px at 256 px (scaled by ``min(H, W) / 256``), a polyline plus a disc at every vertex.

Each function draws ONE stroke in place on a bool hole map (True = hole) with the given ``np.random.Generator``,
with our integer rasteriser (``datasets.raster``): segments are capsules, so DeepFill's discs at the vertices are
the round joins of its polyline. Geometry uses ``math`` on scalars (not numpy's vectorised sin/cos, whose SIMD
paths differ between CPUs) and vertices are rounded down to integers as in the originals.
"""
from __future__ import annotations

import math

import numpy as np

from dip_bench.datasets.raster import draw_polyline, draw_segment

# (max_len, max_width) in pixels of a 512 px image, per LaMa preset; max_angle is 4 in all of them.
LAMA_PRESETS: dict[str, tuple[int, int]] = {"thin": (100, 20), "medium": (200, 100), "thick": (450, 250)}
_LAMA_MAX_ANGLE = 4
_DEEPFILL_MEAN_ANGLE = 2 * math.pi / 5
_DEEPFILL_ANGLE_RANGE = 2 * math.pi / 15


def draw_lama_stroke(hole: np.ndarray, rng: np.random.Generator, preset: str, index: int) -> None:
    """Draw one LaMa stroke of ``preset`` ('thin' | 'medium' | 'thick') on ``hole`` (bool H x W, True = hole).

    ``index`` is the stroke's number within the mask: even strokes turn the other way, as in LaMa.
    """
    max_len, max_width = LAMA_PRESETS[preset]
    h, w = hole.shape
    scale = min(h, w) / 512
    x, y = int(rng.integers(w)), int(rng.integers(h))
    for _ in range(1 + int(rng.integers(5))):
        angle = 0.01 + int(rng.integers(_LAMA_MAX_ANGLE))
        if index % 2 == 0:
            angle = 2 * math.pi - angle
        length = scale * (10 + int(rng.integers(max_len)))
        width = max(1, round(scale * (5 + int(rng.integers(max_width)))))
        x_end = int(min(max(x + length * math.sin(angle), 0), w))
        y_end = int(min(max(y + length * math.cos(angle), 0), h))
        draw_segment(hole, (x, y), (x_end, y_end), width)
        x, y = x_end, y_end


def draw_deepfill_stroke(hole: np.ndarray, rng: np.random.Generator) -> None:
    """Draw one DeepFill v2 free-form brush stroke on ``hole`` (bool H x W, True = hole)."""
    h, w = hole.shape
    radius = math.hypot(h, w) / 8
    n_vertices = int(rng.integers(4, 12))
    angle_min = _DEEPFILL_MEAN_ANGLE - rng.uniform(0, _DEEPFILL_ANGLE_RANGE)
    angle_max = _DEEPFILL_MEAN_ANGLE + rng.uniform(0, _DEEPFILL_ANGLE_RANGE)
    angles = rng.uniform(angle_min, angle_max, size=n_vertices)
    angles[::2] = 2 * math.pi - angles[::2]
    width = max(1, int(min(h, w) / 256 * rng.uniform(12, 40)))
    points = [(int(rng.integers(w)), int(rng.integers(h)))]
    for angle in angles.tolist():
        step = float(np.clip(rng.normal(radius, radius / 2), 0, 2 * radius))
        x, y = points[-1]
        x_next, y_next = x + step * math.cos(angle), y + step * math.sin(angle)
        points.append((int(min(max(x_next, 0), w)), int(min(max(y_next, 0), h))))
    draw_polyline(hole, points, width)
