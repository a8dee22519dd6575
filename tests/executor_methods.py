"""Methods for the executor tests, named in suites as ``executor_methods:<factory>`` (``tests/`` on the path)."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np

from dip_bench.bench.registry import create


def make_killer(*, seed: int = 0, device: str = "cpu", victim: str = "camera", marker: str = "") -> Any:
    """Telea, except that the first call on a ``victim`` image (recognised by its known pixels) SIGKILLs its own
    process, as a node that dies mid-task would; ``marker`` (a file) records that it happened, so a rerun lives."""
    telea = create("telea", seed=seed, device=device)
    from dip_bench.datasets import load_builtin_image

    def call(image: np.ndarray, mask: np.ndarray) -> Any:
        victim_image = load_builtin_image(victim, image.shape[0])
        if np.array_equal(image[mask], victim_image[mask]) and not Path(marker).exists():
            Path(marker).write_text("killed\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return telea(image, mask)

    return call


def make_failing(*, seed: int = 0, device: str = "cpu", iterations: int = 2) -> Any:
    """A method that accepts its parameters and then fails on every call (a failed row, never a stopped run)."""
    def call(image: np.ndarray, mask: np.ndarray) -> Any:
        raise RuntimeError(f"deliberate failure after {iterations} iterations")

    return call
