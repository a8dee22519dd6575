"""The one call shape every inpainting method satisfies (structural: methods never import this).

Conventions at the boundary (numpy, never tensors):
- ``image``: float32 array H x W x C in [0, 1], C = 1 (grayscale) or 3 (RGB).
- ``mask``: bool array H x W, True = known pixel, False = hole (the official DIP convention).
- the return value: ``(output, record)``; ``output`` is float32 H x W x C in [0, 1]; ``record`` is a
  JSON-serialisable mapping with at least ``iterations`` (int, 0 for one-shot methods), ``seconds`` (float, wall
  time of the method alone) and ``device`` (str), plus anything method-specific.
- ``reference``: optional clean image (same shape as ``image``) used only for monitoring (PSNR curves); a method
  must never use it to produce its output.
- ``callback``: optional ``callback(iteration, stats)`` that iterative methods call every few iterations with
  scalar statistics such as ``loss`` and ``psnr``.

User mistakes (bad sizes, missing weights) are raised as ``ValueError`` or ``FileNotFoundError`` with a one-line
message that names the fix.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

Callback = Callable[[int, Mapping[str, float]], None]


class Inpainter(Protocol):
    """Fills the holes of one image; see the module docstring for shapes, ranges and mask polarity."""

    def __call__(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        reference: np.ndarray | None = None,
        callback: Callback | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]: ...
