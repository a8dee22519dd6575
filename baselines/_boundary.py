"""The one mask conversion the classical adapters share: our mask (bool H x W, True = known) to the uint8 hole map
that OpenCV and pypatchmatch take (non-zero = hole). Input checks and compositing live in ``dip_bench.contract``."""
from __future__ import annotations

import numpy as np


def hole_mask_uint8(mask: np.ndarray) -> np.ndarray:
    """bool H x W (True = known) -> uint8 H x W with 255 on holes, 0 on known pixels."""
    return np.where(mask, 0, 255).astype(np.uint8)
