"""Strict reading of user images and masks: every command loads its inputs through here.

Conventions: an image becomes float32 H x W x C in [0, 1] (C = 1 gray, 3 RGB; 8-bit scaled by 255, 16-bit by 65535);
a mask becomes bool H x W with True = KNOWN pixel (white 255 in the file) and False = hole (black 0), the official
Deep Image Prior convention (https://github.com/DmitryUlyanov/deep-image-prior, data/inpainting/*_mask.png).
Anything that cannot be used as it is raises ``InputError`` (a ``UserError``) with one line naming the file and the fix;
a mask without a hole raises ``NothingToInpaint`` so that the caller can skip the pair with that reason.
Pillow reads the files; OpenCV only reads 16-bit colour PNGs, which Pillow would cut to 8 bits.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from dip_bench.contract import UserError, check_image_mask
from dip_bench.datasets.errors import InputError, InputWarning, NothingToInpaint

_SAVE_HINT = "re-save it as an 8- or 16-bit gray or RGB PNG"
_SIXTEEN_BIT_GRAY = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # Pillow opens 16-bit gray PNG as I;16 (older: I)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as float32 H x W x C in [0, 1] (C = 1 or 3).

    Palette and bilevel images are converted; a fully opaque alpha channel is dropped, a transparent one refused.
    """
    path = Path(path)
    pixels, peak = _read_pixels(path)
    pixels = _drop_alpha(pixels, peak, path, "image")
    return (pixels.astype(np.float32) / np.float32(peak)).astype(np.float32)


def load_mask(path: str | Path, *, strict: bool = False, require_hole: bool = True) -> np.ndarray:
    """Read a mask file as bool H x W, True = known pixel (white), False = hole (black).

    Values other than 0 and the maximum (255, or 65535 for 16-bit) are thresholded at half range (128 for 8-bit,
    ``>=`` = known) with an ``InputWarning`` saying how many pixels were affected; with ``strict=True`` they are
    refused. RGB masks are accepted only when the three channels are equal. A mask with no known pixel is refused;
    one with no hole raises ``NothingToInpaint`` unless ``require_hole=False``.
    """
    path = Path(path)
    pixels, peak = _read_pixels(path)
    pixels = _drop_alpha(pixels, peak, path, "mask")
    if pixels.shape[2] == 3:
        differ = np.count_nonzero((pixels[..., 0] != pixels[..., 1]) | (pixels[..., 0] != pixels[..., 2]))
        if differ:
            raise InputError(
                f"{path}: mask has colour ({differ} pixels have different R, G, B values); save it as a grayscale"
                " PNG with white 255 = known and black 0 = hole"
            )
    values = pixels[..., 0]
    not_binary = np.count_nonzero((values != 0) & (values != peak))
    if not_binary:
        if strict:
            raise InputError(
                f"{path}: {not_binary} mask pixels are neither 0 nor {peak} (a JPEG or anti-aliased mask?); save it"
                f" as a PNG with only 0 (hole) and {peak} (known), or load it without strict to threshold it"
            )
        warnings.warn(
            f"{path}: {not_binary} of {values.size} mask pixels were neither 0 nor {peak}; thresholded at"
            f" {(peak + 1) // 2} (at or above = known)",
            InputWarning,
            stacklevel=2,
        )
    mask = values >= (peak + 1) // 2
    check_mask(mask, path, require_hole=require_hole)
    return mask


def check_mask(mask: np.ndarray, path: str | Path, *, require_hole: bool = True) -> None:
    """Refuse a mask (bool H x W, True = known) with no known pixel; raise NothingToInpaint if it has no hole."""
    if not mask.any():
        raise InputError(
            f"{path}: mask has no known pixel (all black); white 255 marks known pixels and black 0 holes,"
            " so invert it if it marks holes in white"
        )
    if require_hole and mask.all():
        raise NothingToInpaint(f"{path}: mask has no hole (all white), nothing to inpaint; mark holes in black 0")


def check_pair(image: np.ndarray, mask: np.ndarray, image_path: str | Path, mask_path: str | Path) -> None:
    """Check an image (float32 H x W x C, C = 1 or 3, in [0, 1]) and mask (bool H x W, True = known) belong together.

    The array checks are ``dip_bench.contract.check_image_mask`` (the one contract every method checks too), with
    the file names in the messages. Raises InputError for anything wrong, and NothingToInpaint for a mask with no
    hole (after the other checks, so that a caller may catch it to skip the pair with its reason).
    """
    try:
        check_image_mask(image, mask, image_name=str(image_path), mask_name=str(mask_path))
    except InputError:
        raise
    except UserError as error:
        raise InputError(str(error)) from None
    check_mask(mask, mask_path)


def load_pair(image_path: str | Path, mask_path: str | Path, *, strict: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load and check an image and its mask; see ``load_image``, ``load_mask`` and ``check_pair``."""
    image = load_image(image_path)
    mask = load_mask(mask_path, strict=strict, require_hole=False)
    check_pair(image, mask, image_path, mask_path)
    return image, mask


#: EXIF orientation (tag 0x0112) → the array operation that shows the image upright (as ``ImageOps.exif_transpose``)
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, k=1),
}
_ORIENTATION_TAG = 0x0112


def _read_pixels(path: Path) -> tuple[np.ndarray, int]:
    """Decode a file to an unsigned integer array H x W x C (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) and its peak,
    turned as its EXIF orientation says (the image a viewer shows; sizes in messages are those).

    The peak value is 255 for 8-bit data and 65535 for 16-bit data.
    """
    pixels, peak, orientation = _decode(path)
    turn = _ORIENT.get(orientation)
    return (pixels if turn is None else np.ascontiguousarray(turn(pixels))), peak


def _decode(path: Path) -> tuple[np.ndarray, int, int]:
    """(pixels as stored, peak, EXIF orientation 1..8, 1 when absent or invalid)."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise InputError(f"{path}: is not a file; give the path of an image file")
    try:
        with Image.open(path) as opened:
            layout = _sixteen_bit_colour_layout(opened)
            opened.load()
            orientation = opened.getexif().get(_ORIENTATION_TAG, 1)
            if layout is None:
                return (*_to_array(_to_supported_mode(opened, path), path), orientation)
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: not a readable image ({reason}); check the file or {_SAVE_HINT}") from error
    return _read_sixteen_bit_colour(path, layout), 65535, orientation


def _sixteen_bit_colour_layout(image: Image.Image) -> str | None:
    """'LA', 'RGB' or 'RGBA' for a 16-bit colour or gray+alpha PNG (which Pillow decodes to 8 bits), else None."""
    if image.format != "PNG" or not image.tile or not isinstance(image.tile[0].args, str):
        return None
    layout, _, depth = image.tile[0].args.partition(";")
    return layout if layout in ("LA", "RGB", "RGBA") and depth.startswith("16") else None


def _to_supported_mode(image: Image.Image, path: Path) -> Image.Image:
    """Convert bilevel, palette, CMYK and YCbCr images to L, RGB or RGBA; refuse modes we cannot scale to [0, 1]."""
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode == "PA":
        return image.convert("RGBA")
    if image.mode in ("CMYK", "YCbCr"):
        return image.convert("RGB")
    if image.mode in ("L", "LA", "RGB", "RGBA") or image.mode in _SIXTEEN_BIT_GRAY:
        return image
    raise InputError(f"{path}: unsupported pixel mode {image.mode}; {_SAVE_HINT}")


def _to_array(image: Image.Image, path: Path) -> tuple[np.ndarray, int]:
    """Pixels of an L, LA, RGB, RGBA or 16-bit gray image as H x W x C and the peak value (255 or 65535)."""
    if image.mode in _SIXTEEN_BIT_GRAY:
        values = np.asarray(image)
        if values.min() < 0 or values.max() > 65535:
            raise InputError(f"{path}: 32-bit integer pixels outside 0..65535; {_SAVE_HINT}")
        return values.astype(np.uint16)[..., None], 65535
    pixels = np.asarray(image, dtype=np.uint8)
    return (pixels[..., None] if pixels.ndim == 2 else pixels), 255


def _read_sixteen_bit_colour(path: Path, layout: str) -> np.ndarray:
    """Read a 16-bit PNG of ``layout`` 'LA', 'RGB' or 'RGBA' with OpenCV as uint16 H x W x C (C = 2, 3 or 4)."""
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise InputError(f"{path}: could not decode this 16-bit colour image; {_SAVE_HINT}")
    order = {"LA": [0, 3], "RGB": [2, 1, 0], "RGBA": [2, 1, 0, 3]}[layout]
    return np.ascontiguousarray(pixels[..., order])


def _drop_alpha(pixels: np.ndarray, peak: int, path: Path, what: str) -> np.ndarray:
    """Remove a fully opaque alpha channel (C = 2 or 4); refuse one with any transparent pixel."""
    if pixels.shape[2] not in (2, 4):
        return pixels
    transparent = np.count_nonzero(pixels[..., -1] != peak)
    if transparent:
        raise InputError(
            f"{path}: {what} has an alpha channel with {transparent} transparent pixels; flatten it onto a background"
            " (and mark those pixels as holes in the mask) or save it without alpha"
        )
    return pixels[..., :-1]
