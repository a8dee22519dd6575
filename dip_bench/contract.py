"""The one call contract that every inpainting method and the harness share (the bottom module: numpy only, torch
imported lazily). ``dip_bench.dip``, ``dip_bench.baselines``, ``dip_bench.datasets`` and ``dip_bench.bench`` may all
import it; it imports none of them.

Conventions at the boundary (numpy, never tensors):

- ``image``: float32 array H x W x C in [0, 1], C = 1 (gray) or 3 (RGB), finite;
- ``mask``: bool array H x W, True = known pixel, False = hole (the official DIP convention), at least one known;
- a method returns ``(output, record)``: ``output`` float32 H x W x C in [0, 1]; ``record`` a JSON-serialisable
  ``Record`` with at least ``iterations`` (0 for one-shot methods), ``seconds`` (the method alone) and ``device``;
- ``reference``: optional clean image of the same shape, for monitoring only (PSNR curves); a method must never use
  it to produce its output;
- ``callback``: optional ``callback(iteration, stats)`` called by iterative methods every few iterations.

A user's mistake (a bad argument, a missing file, an unavailable device) raises ``UserError`` with one line that
names the file or option and the fix; the CLI prints that line and exits 2. Any other exception is a bug and keeps
its traceback.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import numpy as np

if TYPE_CHECKING:
    import torch

Callback = Callable[[int, Mapping[str, float]], None]


class UserError(ValueError):
    """A mistake in what the user gave (file, option, parameter, suite): one line naming it and the fix."""


class Record(TypedDict, total=False):
    """What a method reports about one call; ``iterations``, ``seconds`` and ``device`` are always present."""

    iterations: int
    seconds: float
    device: str
    seconds_per_iter: float
    peak_memory_mb: float
    curve: list[dict[str, float]]


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


def check_image_mask(image: Any, mask: Any, *, image_name: str = "image", mask_name: str = "mask") -> None:
    """Raise ``UserError`` naming what is wrong when ``image``/``mask`` break the boundary convention.

    ``image_name``/``mask_name`` (file paths, say) are used in the messages.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.float32:
        found = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise UserError(f"{image_name}: must be a float32 array H x W x C in [0, 1], got {found}; convert with "
                        "np.asarray(image, dtype=np.float32) (divide 8-bit data by 255)")
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise UserError(f"{image_name}: must be H x W x C with C = 1 (gray) or 3 (RGB), got shape {image.shape}; "
                        "add a channel axis with image[..., None] for gray")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise UserError(f"{image_name}: is empty (shape {image.shape})")
    if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
        raise UserError(f"{image_name}: values must be finite and in [0, 1]; divide 8-bit data by 255")
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
        found = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise UserError(f"{mask_name}: must be a bool array H x W (True = known), got {found}")
    if mask.shape != image.shape[:2]:
        (ih, iw), (mh, mw) = image.shape[:2], mask.shape
        raise UserError(f"{mask_name}: is {mw}x{mh} (WxH) but {image_name} is {iw}x{ih}; give the mask the image's "
                        "size (resize with nearest neighbour) or pick the matching mask")
    if not mask.any():
        raise UserError(f"{mask_name}: has no known pixel (True = known), so there is nothing to inpaint from; "
                        "invert it if it marks holes as True")


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``, ``cuda`` or ``cuda:N``; anything else, or CUDA asked for
    where there is none, is a ``UserError``."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise UserError(f"--device {device!r}: choose auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: this torch has no CUDA device; use --device cpu or auto")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return resolved


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] H x W x C -> uint8 by rounding ``round(x * 255)``, clipped; C = 1 becomes H x W."""
    array = np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array


def composite(output: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Known pixels (mask True) from ``image`` bit for bit, holes from ``output`` clipped to [0, 1]; float32
    H x W x C."""
    filled = np.clip(np.asarray(output, dtype=np.float32).reshape(image.shape), 0.0, 1.0)
    return np.where(mask[..., None], image, filled).astype(np.float32)
