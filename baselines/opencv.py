"""OpenCV's classical inpainting, ``cv2.inpaint``: fast marching (Telea) and Navier-Stokes.

- A. Telea, "An Image Inpainting Technique Based on the Fast Marching Method", J. Graphics Tools 9(1), 2004.
- M. Bertalmio, A. L. Bertozzi, G. Sapiro, "Navier-Stokes, Fluid Dynamics, and Image and Video Inpainting",
  CVPR 2001.
Code: https://github.com/opencv/opencv (modules/photo/src/inpaint.cpp), Apache-2.0.

Conversion, done once here: the hole pixels are set to 0 (``cv2.inpaint`` reads them, so they must not carry
the hidden values), the image goes to uint8 by rounding (``round(x * 255)``), gray as a 2-D array; the hole
mask is uint8 with non-zero = hole (cv2's convention; ours is True = known).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dip_bench.baselines._oneshot import OneShot, hole_mask_uint8
from dip_bench.contract import UserError, is_int, to_uint8

_FLAGS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


@dataclass(frozen=True)
class OpenCVInpainter(OneShot):
    """``cv2.inpaint`` behind the common call shape; ``algorithm`` is ``telea`` or ``ns``."""

    algorithm: str
    radius: int

    def fill(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hidden = np.where(mask[..., None], image, 0.0)  # cv2.inpaint reads hole pixels: hide them
        source = to_uint8(hidden[..., 0] if image.shape[2] == 1 else hidden)
        filled = cv2.inpaint(source, hole_mask_uint8(mask), self.radius, _FLAGS[self.algorithm])
        return filled.astype(np.float32) / 255.0

    def settings(self) -> dict[str, Any]:
        return {"radius": self.radius}


def _check_radius(radius: int) -> int:
    if not is_int(radius, 1):
        raise UserError(f"radius must be a positive integer (pixels), got {radius!r}")
    return int(radius)


def make_telea(*, seed: int = 0, device: str = "cpu", radius: int = 3) -> OpenCVInpainter:
    """OpenCV fast marching (Telea 2004); ``radius`` is the neighbourhood in pixels. Deterministic, CPU only."""
    return OpenCVInpainter("telea", _check_radius(radius))


def make_ns(*, seed: int = 0, device: str = "cpu", radius: int = 3) -> OpenCVInpainter:
    """OpenCV Navier-Stokes (Bertalmio et al. 2001); ``radius`` is the neighbourhood in pixels. Deterministic, CPU."""
    return OpenCVInpainter("ns", _check_radius(radius))
