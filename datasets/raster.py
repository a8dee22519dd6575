"""Our own integer rasteriser for the masks: thick lines, polylines and filled polygons on a bool canvas.

Drawing with a library (OpenCV's ``line``, ``fillPoly``, ``putText``) ties every generated mask to that library's
version: OpenCV 5.1 drew different text than 5.0. Here every decision is exact integer arithmetic on integer vertex
coordinates (int64 numpy), so a mask depends on nothing but its inputs: not on the CPU, the SIMD path or a library.

Conventions: the canvas is bool H x W, drawing sets pixels to True (for the masks: True = hole). A point is (x, y) =
(column, row) in pixels, and the pixel (row r, column c) is the point (c, r): pixel centres sit on integer
coordinates. Vertices outside the canvas are allowed; the shapes are clipped to it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dip_bench.contract import is_int

Point = tuple[int, int]


def draw_segment(canvas: np.ndarray, start: Point, end: Point, width: int) -> None:
    """Set every pixel whose centre lies within ``width / 2`` of the segment start-end (a capsule: round caps).

    With d = end - start, v = pixel - start, the distance test ``dist <= width / 2`` is, exactly in integers:
    ``4 |v|^2 <= width^2`` before the start, ``4 |pixel - end|^2 <= width^2`` after the end, and
    ``4 (d x v)^2 <= width^2 |d|^2`` beside the segment. A segment of length 0 draws a disc of diameter ``width``.
    """
    (x0, y0), (x1, y1) = _point(start), _point(end)
    if not is_int(width, 1):
        raise ValueError(f"line width must be an int >= 1, got {width!r}")
    h, w = canvas.shape
    reach = int(width) // 2 + 1
    left, right = max(min(x0, x1) - reach, 0), min(max(x0, x1) + reach, w - 1)
    top, bottom = max(min(y0, y1) - reach, 0), min(max(y0, y1) + reach, h - 1)
    if left > right or top > bottom:
        return
    ys = np.arange(top, bottom + 1, dtype=np.int64)[:, None]
    xs = np.arange(left, right + 1, dtype=np.int64)[None, :]
    dx, dy = x1 - x0, y1 - y0
    vx, vy = xs - x0, ys - y0
    length2 = dx * dx + dy * dy
    along = vx * dx + vy * dy  # (pixel - start) . d
    width2 = int(width) * int(width)
    near_start = 4 * (vx * vx + vy * vy) <= width2
    near_end = 4 * ((xs - x1) ** 2 + (ys - y1) ** 2) <= width2
    cross = dx * vy - dy * vx
    beside = (along > 0) & (along < length2) & (4 * cross * cross <= width2 * length2)
    canvas[top : bottom + 1, left : right + 1] |= near_start | near_end | beside


def draw_polyline(canvas: np.ndarray, points: Sequence[Point], width: int) -> None:
    """Draw consecutive segments through ``points`` with ``draw_segment`` (round joins and ends)."""
    if len(points) == 1:
        draw_segment(canvas, points[0], points[0], width)
    for start, end in zip(points[:-1], points[1:]):
        draw_segment(canvas, start, end, width)


def fill_polygon(canvas: np.ndarray, points: Sequence[Point]) -> None:
    """Set every pixel whose centre is inside the closed polygon ``points`` (even-odd rule).

    For each row y, an edge (x0, y0)-(x1, y1) with y0 <= y < y1 (half-open, so a vertex on the row counts once)
    crosses it at x0 + (y - y0)(x1 - x0) / (y1 - y0); a pixel is inside when an odd number of crossings lie strictly
    to its right. The crossing's ceiling is taken with integer floor division, so the test is exact.
    """
    vertices = np.array([_point(p) for p in points], dtype=np.int64).reshape(-1, 2)
    if len(vertices) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(vertices)}")
    h, w = canvas.shape
    start, end = vertices, np.roll(vertices, -1, axis=0)
    low = np.where((start[:, 1] <= end[:, 1])[:, None], start, end)  # each edge oriented downwards (y grows)
    high = np.where((start[:, 1] <= end[:, 1])[:, None], end, start)
    top, bottom = np.maximum(low[:, 1], 0), np.minimum(high[:, 1], h)  # rows top..bottom-1 of each edge
    rows_per_edge = np.maximum(bottom - top, 0)
    if not rows_per_edge.any():
        return
    edge = np.repeat(np.arange(len(low)), rows_per_edge)
    first = np.cumsum(rows_per_edge) - rows_per_edge
    rows = top[edge] + np.arange(edge.size) - first[edge]
    (x0, y0), (x1, y1) = low[edge].T, high[edge].T
    dy = y1 - y0  # > 0 for every edge that spans a row
    numerator = x0 * dy + (rows - y0) * (x1 - x0)  # crossing x = numerator / dy
    ceiling = np.clip(-((-numerator) // dy), 0, w)  # columns 0 .. ceiling-1 lie left of the crossing
    crossings = np.zeros((h, w + 1), np.int64)
    np.add.at(crossings, (rows, ceiling), 1)
    right_of = np.cumsum(crossings[:, ::-1], axis=1)[:, ::-1]  # right_of[:, c] = crossings with ceiling >= c
    canvas |= (right_of[:, 1:] % 2).astype(bool)


def _point(point: Point) -> tuple[int, int]:
    x, y = point
    if not all(is_int(v) for v in (x, y)):
        raise ValueError(f"raster points must be integer (x, y) pairs, got {point!r}")
    return int(x), int(y)
