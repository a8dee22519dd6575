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

Each function draws ONE stroke in place on a uint8 hole map (1 = hole) with the given ``np.random.Generator``.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

# (max_len, max_width) in pixels of a 512 px image, per LaMa preset; max_angle is 4 in all of them.
LAMA_PRESETS: dict[str, tuple[int, int]] = {"thin": (100, 20), "medium": (200, 100), "thick": (450, 250)}
_LAMA_MAX_ANGLE = 4
_DEEPFILL_MEAN_ANGLE = 2 * math.pi / 5
_DEEPFILL_ANGLE_RANGE = 2 * math.pi / 15


def draw_lama_stroke(hole: np.ndarray, rng: np.random.Generator, preset: str, index: int) -> None:
    """Draw one LaMa stroke of ``preset`` ('thin' | 'medium' | 'thick') on ``hole`` (uint8 H x W, 1 = hole).

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
        x_end = int(np.clip(x + length * math.sin(angle), 0, w))
        y_end = int(np.clip(y + length * math.cos(angle), 0, h))
        cv2.line(hole, (x, y), (x_end, y_end), 1, width)
        x, y = x_end, y_end


def draw_deepfill_stroke(hole: np.ndarray, rng: np.random.Generator) -> None:
    """Draw one DeepFill v2 free-form brush stroke on ``hole`` (uint8 H x W, 1 = hole)."""
    h, w = hole.shape
    radius = math.hypot(h, w) / 8
    n_vertices = int(rng.integers(4, 12))
    angle_min = _DEEPFILL_MEAN_ANGLE - rng.uniform(0, _DEEPFILL_ANGLE_RANGE)
    angle_max = _DEEPFILL_MEAN_ANGLE + rng.uniform(0, _DEEPFILL_ANGLE_RANGE)
    angles = rng.uniform(angle_min, angle_max, size=n_vertices)
    angles[::2] = 2 * math.pi - angles[::2]
    width = max(1, int(min(h, w) / 256 * rng.uniform(12, 40)))
    points = [(int(rng.integers(w)), int(rng.integers(h)))]
    for angle in angles:
        step = float(np.clip(rng.normal(radius, radius / 2), 0, 2 * radius))
        x, y = points[-1]
        points.append((int(np.clip(x + step * math.cos(angle), 0, w)), int(np.clip(y + step * math.sin(angle), 0, h))))
    cv2.polylines(hole, [np.array(points, dtype=np.int32)], False, 1, width)
    for point in points:
        cv2.circle(hole, point, width // 2, 1, -1)
