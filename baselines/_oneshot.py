"""What every one-shot baseline shares, so that each says only its algorithm: ``OneShot`` checks the inputs, times
the fill (waiting for CUDA), composites the known pixels back bit for bit and writes the record; and the one mask
conversion of the classical adapters, ``hole_mask_uint8``. The checks and compositing themselves live in
``dip_bench.contract``."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from dip_bench.contract import check_image_mask, composite


def hole_mask_uint8(mask: np.ndarray) -> np.ndarray:
    """bool H x W (True = known) -> uint8 H x W with 255 on holes, 0 on known pixels (OpenCV's and pypatchmatch's
    hole map: non-zero = hole)."""
    return np.where(mask, 0, 255).astype(np.uint8)


class OneShot:
    """Base of a one-shot method behind the common call shape (``dip_bench.contract.Inpainter``, no observer).

    A subclass gives ``fill`` (its algorithm), and ``settings`` (its record entries) and ``run_device`` when they
    are not empty and the CPU."""

    def fill(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The filled image, H x W x C (any float dtype or range; clipped to [0, 1] in the holes)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """The method's entries of the record, after ``iterations``, ``seconds`` and ``device``."""
        return {}

    def run_device(self) -> torch.device:
        return torch.device("cpu")

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """image float32 H x W x C in [0, 1], mask bool H x W (True = known) -> (output, record)."""
        check_image_mask(image, mask)
        start = time.perf_counter()
        output = composite(self.fill(image, mask), image, mask)
        device = self.run_device()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        return output, {"iterations": 0, "seconds": seconds, "device": str(device), **self.settings()}
