"""Biharmonic inpainting (slow on large holes), scikit-image ``restoration.inpaint_biharmonic``.

S. B. Damelin, N. S. Hoang, "On Surface Completion and Image Inpainting by Biharmonic Functions: Numerical Aspects",
Int. J. Math. Math. Sci., 2018. Code: https://github.com/scikit-image/scikit-image
(skimage/restoration/inpaint.py), BSD-3-Clause.

Conversion, done once here: skimage's mask is True = unknown (ours: True = known); colour uses ``channel_axis=-1``,
gray is passed as a 2-D array. The solver returns float64, which is clipped to [0, 1] and cast to float32. It solves
one sparse linear system per connected hole, so its time grows quickly with the hole area (see baselines/README.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.restoration import inpaint_biharmonic

from dip_bench.baselines._oneshot import OneShot


@dataclass(frozen=True)
class BiharmonicInpainter(OneShot):
    """``inpaint_biharmonic`` behind the common call shape. Deterministic, CPU only."""

    def fill(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if image.shape[2] == 1:
            return inpaint_biharmonic(image[..., 0].astype(np.float64), ~mask)
        return inpaint_biharmonic(image.astype(np.float64), ~mask, channel_axis=-1)


def make(*, seed: int = 0, device: str = "cpu") -> BiharmonicInpainter:
    """Biharmonic inpainting (slow on large holes), skimage ``inpaint_biharmonic``. Deterministic, CPU only."""
    return BiharmonicInpainter()
