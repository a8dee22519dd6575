"""A small lowercase stroke font for the text mask (our own design): glyphs as polylines on an integer grid.

Grid units, y up: the baseline is y = 0, the x-height 8, ascenders reach 12 and descenders -4. Round letters are
octagons. ``layout(text, x, baseline, unit)`` places a line of text and returns its strokes as integer pixel
polylines, for ``raster.draw_polyline``; every vertex is ``round(origin + grid * unit)``, plain IEEE multiply, add
and round, so the same text, position and unit give the same pixels everywhere. Only letters and spaces are drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

Polyline = tuple[tuple[int, int], ...]

ASCENDER = 12  # grid units above the baseline of b, d, f, h, k, l
LETTER_GAP = 4  # grid units between two letters
SPACE = 8  # advance of a space, grid units

_O = ((2, 0), (4, 0), (6, 2), (6, 6), (4, 8), (2, 8), (0, 6), (0, 2), (2, 0))  # closed bowl, 6 wide
_RIGHT_BOWL = ((6, 6), (4, 8), (2, 8), (0, 6), (0, 2), (2, 0), (4, 0), (6, 2))  # open on the right (a, d, g, q)
_LEFT_BOWL = ((0, 6), (2, 8), (4, 8), (6, 6), (6, 2), (4, 0), (2, 0), (0, 2))  # open on the left (b, p)
_ARCH = ((0, 6), (2, 8), (4, 8), (6, 6), (6, 0))  # h, n


@dataclass(frozen=True)
class Glyph:
    """One letter: its advance width and strokes, in grid units."""

    width: int
    strokes: tuple[Polyline, ...]


GLYPHS: dict[str, Glyph] = {
    "a": Glyph(6, (_RIGHT_BOWL, ((6, 8), (6, 0)))),
    "b": Glyph(6, (((0, 12), (0, 0)), _LEFT_BOWL)),
    "c": Glyph(6, (((6, 6), (4, 8), (2, 8), (0, 6), (0, 2), (2, 0), (4, 0), (6, 2)),)),
    "d": Glyph(6, (_RIGHT_BOWL, ((6, 12), (6, 0)))),
    "e": Glyph(6, (((0, 4), (6, 4), (6, 6), (4, 8), (2, 8), (0, 6), (0, 2), (2, 0), (5, 0)),)),
    "f": Glyph(5, (((5, 11), (4, 12), (3, 12), (2, 11), (2, 0)), ((0, 8), (5, 8)))),
    "g": Glyph(6, (_RIGHT_BOWL, ((6, 8), (6, -2), (4, -4), (1, -4)))),
    "h": Glyph(6, (((0, 12), (0, 0)), _ARCH)),
    "i": Glyph(0, (((0, 8), (0, 0)), ((0, 11), (0, 11)))),
    "k": Glyph(6, (((0, 12), (0, 0)), ((6, 8), (0, 3)), ((2, 5), (6, 0)))),
    "l": Glyph(1, (((0, 12), (0, 1), (1, 0)),)),
    "m": Glyph(8, (((0, 8), (0, 0)), ((0, 6), (2, 8), (4, 6), (4, 0)), ((4, 6), (6, 8), (8, 6), (8, 0)))),
    "n": Glyph(6, (((0, 8), (0, 0)), _ARCH)),
    "o": Glyph(6, (_O,)),
    "p": Glyph(6, (((0, 8), (0, -4)), _LEFT_BOWL)),
    "r": Glyph(5, (((0, 8), (0, 0)), ((0, 5), (3, 8), (5, 8)))),
    "s": Glyph(6, (((6, 7), (5, 8), (1, 8), (0, 7), (0, 5), (1, 4), (5, 4), (6, 3), (6, 1), (5, 0), (1, 0), (0, 1)),)),
    "t": Glyph(5, (((2, 11), (2, 1), (3, 0), (5, 0)), ((0, 8), (5, 8)))),
    "u": Glyph(6, (((0, 8), (0, 2), (2, 0), (4, 0), (6, 2)), ((6, 8), (6, 0)))),
    "v": Glyph(6, (((0, 8), (3, 0), (6, 8)),)),
    "w": Glyph(8, (((0, 8), (2, 0), (4, 6), (6, 0), (8, 8)),)),
    "x": Glyph(6, (((0, 8), (6, 0)), ((0, 0), (6, 8)))),
    "y": Glyph(6, (((0, 8), (3, 0)), ((6, 8), (2, -3), (0, -4)))),
    "z": Glyph(6, (((0, 8), (6, 8), (0, 0), (6, 0)),)),
}


def text_width(text: str, unit: float) -> float:
    """Width in pixels of ``text`` drawn with ``unit`` pixels per grid unit (from the first letter's left edge to
    the last letter's right edge)."""
    return _advance(text) * unit - LETTER_GAP * unit if text else 0.0


def layout(text: str, x: int, baseline: int, unit: float) -> list[Polyline]:
    """Strokes of ``text`` starting at pixel column ``x`` on pixel row ``baseline``, ``unit`` px per grid unit.

    Returns pixel polylines ((x, y), ...) with y down (image rows). Letters not in ``GLYPHS`` raise ValueError.
    """
    strokes: list[Polyline] = []
    pen = 0
    for char in text:
        if char == " ":
            pen += SPACE
            continue
        glyph = _glyph(char)
        for stroke in glyph.strokes:
            strokes.append(tuple((x + round((pen + gx) * unit), baseline - round(gy * unit)) for gx, gy in stroke))
        pen += glyph.width + LETTER_GAP
    return strokes


def _advance(text: str) -> int:
    return sum(SPACE if char == " " else _glyph(char).width + LETTER_GAP for char in text)


def _glyph(char: str) -> Glyph:
    if char not in GLYPHS:
        raise ValueError(f"the mask font has no glyph for {char!r}; it draws {''.join(sorted(GLYPHS))} and spaces")
    return GLYPHS[char]
