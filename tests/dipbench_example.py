"""A researcher's own inpainting method, as it would live outside dip-bench (used by ``test_external_method.py``).

``make`` is a dip-bench factory: keyword parameters with type hints, ``seed`` and ``device``, returning a callable
with the ``Inpainter`` call shape (image float32 H x W x C in [0, 1], mask bool H x W, True = known; an optional
``observe`` shown the output after every step). The method:
holes start at the mean of the known pixels plus seeded noise of amplitude ``NOISE``, then ``iterations`` Jacobi
steps of 4-neighbour averaging fill them (known pixels stay fixed).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

NOISE = 0.05
family = "external"


def make(*, seed: int = 0, device: str = "cpu", iterations: int = 20, rate: float = 1.0):
    """Diffusion fill of the holes (the example method of the external-method tests)."""
    def inpaint(image: np.ndarray, mask: np.ndarray, *, observe: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        known = mask[..., None]
        fill = image[mask].mean(axis=0) + NOISE * rng.standard_normal(image.shape)
        out = np.where(known, image, fill).astype(np.float32)
        for step in range(iterations):
            padded = np.pad(out, ((1, 1), (1, 1), (0, 0)), mode="edge")
            mean = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
            change = float(np.abs(mean - out)[~mask].mean()) if (~mask).any() else 0.0
            out = np.where(known, image, out + rate * (mean - out)).astype(np.float32)
            if observe is not None:
                observe(step, np.clip(out, 0, 1), {"change": change})
        out = np.clip(out, 0, 1).astype(np.float32)
        return out, {"iterations": iterations, "seconds": time.perf_counter() - start, "device": "cpu"}

    return inpaint
