"""Seeded inpainting masks: ``make_mask(kind, (H, W), seed)`` -> bool H x W, True = KNOWN pixel, False = hole.

Kinds and what they reproduce:
- ``text``: lines of words in our own stroke font (``datasets.font``), like the kate mask of Deep Image Prior
  (Ulyanov et al., CVPR 2018, https://github.com/DmitryUlyanov/deep-image-prior, data/inpainting/kate_mask.png:
  4.3 % holes).
- ``pixels50``: every pixel dropped independently with probability 0.5 (DIP's restoration experiment, Table 1).
- ``boxes``: one central box plus 2-5 random boxes (more while the ratio is below the range).
- ``strokes-LO-HI``: free-form brush strokes in the hole-ratio bins of Liu et al. ("Image Inpainting for Irregular
  Holes Using Partial Convolutions", ECCV 2018), drawn with LaMa's thin/medium/thick presets and DeepFill v2's brush
  (see ``datasets.strokes``), the preset picked at random per stroke.
- ``region``: one large contiguous blob (a smooth star-shaped polygon), like DIP's vase/library region masks.

Every mask's hole ratio lies in ``HOLE_RANGES[kind]`` = (lo, hi), meaning ``lo < hole_ratio <= hi`` (Liu et al.'s bins
are half-open the same way). Shapes are added one by one with the seeded generator until the ratio is in range; a
shape that would push the ratio above ``hi`` is rejected. The loop is bounded and raises ValueError when the range
cannot be reached. The generator is ``np.random.default_rng((seed, crc32(kind)))``, so kinds drawn with the same
seed are independent. Every shape is drawn by our own integer rasteriser (``datasets.raster``), never by OpenCV, and
the geometry uses only numpy's seeded draws, IEEE arithmetic and ``math`` on scalars, so the same (kind, size, seed)
gives the same mask on every machine and with every version of every dependency.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import numpy as np

from dip_bench.datasets.font import ASCENDER, layout, text_width
from dip_bench.datasets.raster import draw_polyline, fill_polygon
from dip_bench.datasets.strokes import draw_deepfill_stroke, draw_lama_stroke
from dip_bench.contract import UserError, is_int

MASK_KINDS: tuple[str, ...] = (
    "text",
    "pixels50",
    "boxes",
    "strokes-10-20",
    "strokes-20-30",
    "strokes-30-40",
    "strokes-40-50",
    "region",
)
HOLE_RANGES: dict[str, tuple[float, float]] = {
    "text": (0.04, 0.08),
    "pixels50": (0.45, 0.55),
    "boxes": (0.15, 0.35),
    "strokes-10-20": (0.10, 0.20),
    "strokes-20-30": (0.20, 0.30),
    "strokes-30-40": (0.30, 0.40),
    "strokes-40-50": (0.40, 0.50),
    "region": (0.25, 0.40),
}
MIN_SIDE = 32
MAX_DRAWS = 2000

# A word list for the text mask (our own; any words do).
_WORDS = tuple(
    "deep image prior inpainting network learns natural structure before noise a randomly initialised"
    " generator fits the known pixels and fills the holes with what it finds easiest to draw, so the"
    " architecture itself acts as the regulariser of this inverse problem".replace(",", "").split()
)
_TEXT_HEIGHT = 22  # ascender height in px at 512 px before the random 0.7-1.0 factor (kate's text: about 20 px)
_MIN_TEXT_HEIGHT = 7  # px; smaller letters are no longer letters

Draw = Callable[[np.ndarray, np.random.Generator, int], None]


def hole_ratio(mask: np.ndarray) -> float:
    """Fraction of hole pixels of a bool mask (True = known)."""
    return float(1.0 - np.count_nonzero(mask) / mask.size)


def make_mask(kind: str, size: tuple[int, int], seed: int) -> np.ndarray:
    """Return a bool mask of shape ``size`` = (H, W), True = known pixel, with its hole ratio in HOLE_RANGES[kind].

    ``seed`` (int >= 0) seeds the generator together with the kind; both sides must be at least MIN_SIDE pixels.
    """
    if kind not in MASK_KINDS:
        raise UserError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(MASK_KINDS)}")
    h, w = _check_size(size)
    if not is_int(seed, 0):
        raise UserError(f"mask seed must be an int >= 0, got {seed!r}")
    rng = np.random.default_rng((int(seed), zlib.crc32(kind.encode())))
    lo, hi = HOLE_RANGES[kind]
    if kind == "pixels50":
        hole = _pixels(rng, h, w, lo, hi)
    elif kind == "region":
        hole = _region(rng, h, w, lo, hi)
    elif kind == "boxes":
        hole = _central_box(rng, h, w)
        hole = _fill(hole, rng, lo, hi, _draw_box, kind, min_shapes=int(rng.integers(2, 6)))
    elif kind == "text":
        hole = _fill(np.zeros((h, w), bool), rng, lo, hi, _text_drawer(h, w), kind)
    else:
        hole = _fill(np.zeros((h, w), bool), rng, lo, hi, _draw_stroke, kind)
    return ~hole


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(is_int(s) for s in size)
    ):
        raise UserError(f"mask size must be a pair of ints (H, W), got {size!r}")
    h, w = int(size[0]), int(size[1])
    if min(h, w) < MIN_SIDE:
        raise UserError(f"mask size {h}x{w} (HxW) is too small; both sides must be at least {MIN_SIDE} px")
    return h, w


def _fill(
    hole: np.ndarray, rng: np.random.Generator, lo: float, hi: float, draw: Draw, kind: str, min_shapes: int = 0
) -> np.ndarray:
    """Add shapes with ``draw`` until ``lo < hole ratio <= hi`` and at least ``min_shapes`` were kept.

    A shape that would push the ratio above ``hi`` is rejected; at most MAX_DRAWS shapes are tried.
    """
    n = hole.size
    holes = np.count_nonzero(hole)
    kept = 0
    for index in range(MAX_DRAWS):
        if lo * n < holes <= hi * n and kept >= min_shapes:
            return hole
        trial = hole.copy()
        draw(trial, rng, index)
        trial_holes = np.count_nonzero(trial)
        if trial_holes <= hi * n:
            hole, holes, kept = trial, trial_holes, kept + 1
    h, w = hole.shape
    raise UserError(
        f"mask kind {kind!r}: no hole ratio in ({lo}, {hi}] after {MAX_DRAWS} shapes at {h}x{w} (HxW);"
        " use a larger size or another seed"
    )


def _pixels(rng: np.random.Generator, h: int, w: int, lo: float, hi: float) -> np.ndarray:
    """Bernoulli(0.5) holes; redrawn (bounded) in the rare case the ratio falls outside (lo, hi]."""
    for _ in range(100):
        hole = rng.random((h, w)) < 0.5
        if lo < np.count_nonzero(hole) / hole.size <= hi:
            return hole
    raise UserError(f"mask kind 'pixels50': no hole ratio in ({lo}, {hi}] at {h}x{w} (HxW); use a larger size")


def _central_box(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A centred box covering 30-40 % of each side."""
    hole = np.zeros((h, w), bool)
    bh, bw = round(h * rng.uniform(0.3, 0.4)), round(w * rng.uniform(0.3, 0.4))
    top, left = (h - bh) // 2, (w - bw) // 2
    hole[top : top + bh, left : left + bw] = True
    return hole


def _draw_box(hole: np.ndarray, rng: np.random.Generator, index: int) -> None:
    """A box anywhere in the image with sides of 8-25 % of the image's."""
    h, w = hole.shape
    bh, bw = max(1, round(h * rng.uniform(0.08, 0.25))), max(1, round(w * rng.uniform(0.08, 0.25)))
    top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    hole[top : top + bh, left : left + bw] = True


def _draw_stroke(hole: np.ndarray, rng: np.random.Generator, index: int) -> None:
    """One stroke from a preset picked at random: LaMa thin, medium, thick, or DeepFill v2's brush."""
    preset = ("thin", "medium", "thick", "deepfill")[int(rng.integers(4))]
    if preset == "deepfill":
        draw_deepfill_stroke(hole, rng)
    else:
        draw_lama_stroke(hole, rng, preset, index)


def _text_drawer(h: int, w: int) -> Draw:
    """Return a drawer that writes one line of random words per call on a free baseline, picked at random.

    Letter height and stroke width follow kate's text (ascenders about 20 px high, 3 px strokes at 512 px), scaled by
    min(H, W) but never below ``_MIN_TEXT_HEIGHT``. Baselines are at least twice a line's height apart (3 to 10 of
    them); a baseline is free while its band of rows has no hole. Lines start a little left of the image, so the
    first word is cut as in kate, and run over 40-100 % of the width. With no free baseline left the drawer adds
    nothing.
    """
    scale = min(h, w) / 512
    n_slots = min(max(h // max(14, round(40 * scale)), 3), 10)
    bands = [(round(slot * h / n_slots), round((slot + 1) * h / n_slots)) for slot in range(n_slots)]

    def draw(hole: np.ndarray, rng: np.random.Generator, index: int) -> None:
        free = [(top, bottom) for top, bottom in bands if not hole[top:bottom].any()]
        if not free:
            return
        top, bottom = free[int(rng.integers(len(free)))]
        unit = max(_MIN_TEXT_HEIGHT, _TEXT_HEIGHT * scale * rng.uniform(0.7, 1.0)) / ASCENDER
        thickness = max(1, int(unit * rng.uniform(1.6, 2.4)))
        x = -int(rng.integers(0, max(1, w // 8)))
        length = w * rng.uniform(0.4, 1.0) - x
        words: list[str] = []
        while text_width(" ".join(words), unit) < length:
            words.append(_WORDS[int(rng.integers(len(_WORDS)))])
        baseline = top + round(0.75 * (bottom - top))
        for stroke in layout(" ".join(words), x, baseline, unit):
            draw_polyline(hole, stroke, thickness)

    return draw


def _region(rng: np.random.Generator, h: int, w: int, lo: float, hi: float) -> np.ndarray:
    """One smooth star-shaped blob around a point near the centre, scaled by bisection to a target hole ratio.

    The radius is ``1 + sum_k a_k cos(k*theta + phi_k)`` for k = 2..5 with ``sum a_k < 1``, so the polygon is
    star-shaped around its centre and stays one connected region after clipping at the image border.
    """
    target = rng.uniform(lo + 0.02, hi - 0.02)
    cy, cx = h * rng.uniform(0.35, 0.65), w * rng.uniform(0.35, 0.65)
    amplitudes = rng.uniform(0.0, 0.2, size=4).tolist()
    phases = rng.uniform(0.0, 2 * math.pi, size=4).tolist()
    # Scalar math.cos/sin (one libm for every CPU), not numpy's vectorised ones (SIMD paths differ between CPUs).
    thetas = [2 * math.pi * step / 360 for step in range(360)]
    radius = np.array(
        [1.0 + sum(a * math.cos(k * t + p) for k, a, p in zip(range(2, 6), amplitudes, phases)) for t in thetas]
    )
    cos, sin = np.array([math.cos(t) for t in thetas]), np.array([math.sin(t) for t in thetas])

    def raster(scale: float) -> np.ndarray:
        xs, ys = np.round(cx + scale * w * radius * cos), np.round(cy + scale * h * radius * sin)
        hole = np.zeros((h, w), bool)
        fill_polygon(hole, list(zip(xs.astype(np.int64).tolist(), ys.astype(np.int64).tolist())))
        return hole

    low, high = 0.0, 1.5
    for _ in range(40):
        middle = (low + high) / 2
        if np.count_nonzero(raster(middle)) / (h * w) < target:
            low = middle
        else:
            high = middle
    hole = raster(high)
    if not lo < np.count_nonzero(hole) / hole.size <= hi:
        raise UserError(f"mask kind 'region': no hole ratio in ({lo}, {hi}] at {h}x{w} (HxW); use a larger size")
    return hole
