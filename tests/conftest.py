"""Shared fixtures: tiny seeded images and masks, and the optional ../shared reference data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def smooth_image() -> np.ndarray:
    """64 x 64 x 3 float32 in [0, 1]: smooth gradients plus a soft disc (easy for every method)."""
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    disc = ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.08).astype(np.float32)
    image = np.stack([xx, yy, 0.5 * disc + 0.25], axis=-1)
    return np.clip(image, 0, 1).astype(np.float32)


@pytest.fixture
def hole_mask() -> np.ndarray:
    """64 x 64 bool, True = known; a seeded 30 % random mask plus a 10 x 10 box hole."""
    mask = np.random.default_rng(7).random((64, 64)) > 0.3
    mask[20:30, 30:40] = False
    return mask


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (a fresh clone has none)")
    return SHARED_DATA


def tiny_suite(name: str, images: tuple[str, ...], masks: tuple[str, ...], methods: str) -> str:
    """The TOML text of a tiny CPU suite on the built-in set at 64 px, seed 0: ``methods`` is its ``[[methods]]``
    tables. The one header the test files share (``str.format`` placeholders in ``name`` or ``methods`` survive)."""
    quoted = ", ".join(f'"{value}"' for value in images), ", ".join(f'"{value}"' for value in masks)
    return (f'name = "{name}"\ndevice = "cpu"\nseeds = [0]\n[[data]]\nsource = "builtin"\nsize = 64\n'
            f"images = [{quoted[0]}]\nmasks = [{quoted[1]}]\n{methods.lstrip()}")
