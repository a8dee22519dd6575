"""Input checks and conversions shared by the baseline adapters.

Boundary convention (the same for every method): ``image`` float32 H x W x C in [0, 1] with C = 1 or 3, ``mask``
bool H x W with True = known pixel. Libraries that mark holes instead are converted inside their own adapter.
"""
from __future__ import annotations

import numpy as np


def check_inputs(image: np.ndarray, mask: np.ndarray) -> None:
    """Raise ValueError naming what is wrong when ``image``/``mask`` break the boundary convention."""
    if not isinstance(image, np.ndarray) or image.dtype != np.float32:
        found = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a float32 numpy array H x W x C in [0, 1], got {found}: "
                         "convert with np.asarray(image, dtype=np.float32)")
    if image.ndim != 3:
        raise ValueError(f"image must have 3 dimensions H x W x C, got shape {image.shape}: "
                         "add a channel axis with image[..., None] for grayscale")
    if image.shape[2] not in (1, 3):
        raise ValueError(f"image channel dimension (last) is {image.shape[2]}, expected 1 (gray) or 3 (RGB)")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
        raise ValueError("image values must be finite and in [0, 1]: divide 8-bit images by 255")
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        found = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"mask must be a bool numpy array H x W (True = known), got {found}")
    if mask.ndim != 2:
        raise ValueError(f"mask must have 2 dimensions H x W, got shape {mask.shape}")
    for axis, name in enumerate(("height", "width")):
        if mask.shape[axis] != image.shape[axis]:
            raise ValueError(f"mask {name} is {mask.shape[axis]} but image {name} is {image.shape[axis]}: "
                             "mask and image must have the same H x W")
    if not mask.any():
        raise ValueError("mask has no known pixel (True = known): there is nothing to inpaint from")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 by rounding: ``round(x * 255)``."""
    return np.round(image * 255.0).astype(np.uint8)


def hole_mask_uint8(mask: np.ndarray) -> np.ndarray:
    """bool H x W (True = known) -> uint8 H x W with 255 on holes, 0 on known pixels."""
    return np.where(mask, 0, 255).astype(np.uint8)


def composite(filled: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``filled`` in the holes, ``image`` (bit-exact) at known pixels; float32 H x W x C clipped to [0, 1]."""
    filled = np.clip(np.asarray(filled, dtype=np.float32).reshape(image.shape), 0.0, 1.0)
    return np.where(mask[..., None], image, filled).astype(np.float32)
