"""PatchMatch inpainting through ``pypatchmatch`` (a prebuilt native library; ``import patchmatch``).

C. Barnes, E. Shechtman, A. Finkelstein, D. B. Goldman, "PatchMatch: A Randomized Correspondence Algorithm for
Structural Image Editing", SIGGRAPH 2009. Code: https://github.com/vacancy/PyPatchMatch (MIT) and its packaged
fork ``pypatchmatch`` on PyPI.

Conversion, done once here: the image goes to uint8 by rounding (``round(x * 255)``); gray is replicated to 3
channels and the first channel is taken back; the hole mask is uint8 with non-zero = hole. ``patch_size`` is the
library's patch *radius* (patches span ``(2 * patch_size + 1) ** 2`` pixels); 15 is slow at 512 px. The randomised
search is seeded from the factory's seed before every call, so equal inputs give equal outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dip_bench.baselines._oneshot import OneShot, hole_mask_uint8
from dip_bench.contract import UserError, is_int, to_uint8


def unavailable_reason(*, patch_size: int = 5) -> str | None:
    """None when pypatchmatch imports and its native library loaded, else why not."""
    try:
        import patchmatch
    except ImportError as error:
        return f"cannot import patchmatch (pip install pypatchmatch): {error}"
    if not patchmatch.patchmatch_available:
        return "pypatchmatch is installed but its native library did not load (see its warning; reinstall it)"
    return None


@dataclass(frozen=True)
class PatchMatchInpainter(OneShot):
    """``patchmatch.inpaint`` behind the common call shape, seeded with ``seed`` on every call. CPU only."""

    seed: int
    patch_size: int

    def fill(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import patchmatch

        source = to_uint8(np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image)
        patchmatch.set_random_seed(self.seed)
        filled = patchmatch.inpaint(source, hole_mask_uint8(mask), patch_size=self.patch_size)
        filled = filled[..., :1] if image.shape[2] == 1 else filled
        return filled.astype(np.float32) / 255.0

    def settings(self) -> dict[str, Any]:
        return {"patch_size": self.patch_size, "seed": self.seed}


def make(*, seed: int = 0, device: str = "cpu", patch_size: int = 5) -> PatchMatchInpainter:
    """PatchMatch (Barnes et al. 2009) via pypatchmatch; ``patch_size`` is the patch radius in pixels."""
    reason = unavailable_reason(patch_size=patch_size)
    if reason is not None:
        raise UserError(reason)
    if not is_int(patch_size, 1, 64):
        raise UserError(f"patch_size must be an integer radius in 1..64 pixels, got {patch_size!r}")
    if not is_int(seed, 0):
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    return PatchMatchInpainter(int(seed), int(patch_size))
