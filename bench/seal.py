"""Sealed rows: every number a row stores is computed from artifacts on disk, and the row keeps their SHA-256.

A finished (ok) row of format ``dip-bench-row/2`` holds ``seals``: for its ``output`` (``outputs/<row id>.png``), its
clean ``image`` and its ``mask`` the file (relative to the run folder) and its SHA-256. ``verify_row`` proves that
the files are those bytes, that the image and mask decode to the arrays the row's definition names
(``image_sha256``/``mask_sha256``), and that ``psnr``, ``ssim``, ``psnr_hole``, ``ssim_hole`` and ``hole_ratio``
recomputed from them with ``bench.metrics.score`` equal the stored numbers bit for bit (the row file stores floats
with ``repr``, which JSON reads back exactly). ``psnr_raw``, ``best_psnr`` and ``lpips`` come from the raw network
output or another model and are not recomputed.

Files of a run folder the seals name:

    outputs/<row id>.png           the composited output, 8-bit (``store_output``; the harness scores this image)
    inputs/<image>.png             the clean image, 8-bit (the report shows it); lossless when the image is 8-bit
    inputs/<image>.16bit.png       the clean image when it is not 8-bit (16-bit PNG), or ``.npy`` when not 16-bit
    inputs/<image>__<mask>.mask.png   the mask, 1-bit (white = known, black = hole)
    inputs/<image>__<mask>.png     the masked input with holes white, for the report only
"""
from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image

from dip_bench.bench import metrics
from dip_bench.bench.atomic import write_bytes
from dip_bench.contract import to_uint8

if TYPE_CHECKING:
    from dip_bench.bench.results import StoredRow
    from dip_bench.datasets import Pair

OUTPUTS, INPUTS = "outputs", "inputs"
#: what an ok row seals
SEALED = ("output", "image", "mask")
#: stored numbers recomputed from the sealed files
RECOMPUTED = ("psnr", "ssim", "psnr_hole", "ssim_hole", "hole_ratio")


def store_output(run_dir: Path, row_id: str, final: np.ndarray) -> tuple[str, np.ndarray]:
    """Write ``final`` (float32 H x W x C in [0, 1]) as ``outputs/<row_id>.png``; return (path relative to
    ``run_dir``, the stored image as float32 H x W x C = uint8 / 255)."""
    pixels = to_uint8(final)
    relative = f"{OUTPUTS}/{row_id}.png"
    write_bytes(Path(run_dir) / relative, _png(pixels))
    stored = pixels.reshape(final.shape).astype(np.float32) / np.float32(255.0)
    return relative, stored


# --- inputs --------------------------------------------------------------------------------------------------------


def mask_file(image: str, mask: str) -> str:
    """The sealed mask of a pair, relative to the run folder."""
    return f"{INPUTS}/{image}__{mask}.mask.png"


def clean_files(image: str) -> tuple[str, ...]:
    """Where the clean image of ``image`` may be stored losslessly, relative to the run folder (8-bit first)."""
    return f"{INPUTS}/{image}.png", f"{INPUTS}/{image}.16bit.png", f"{INPUTS}/{image}.npy"


def _png(pixels: np.ndarray) -> bytes:
    """PNG bytes of uint8 H x W (x 3) pixels, or of bool H x W as a 1-bit PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _lossless(image: np.ndarray) -> tuple[int, bytes]:
    """The index in ``clean_files`` of the first format that holds ``image`` (float32 H x W x C) exactly, and its
    bytes: an 8-bit PNG when every value is k / 255 as ``datasets.load_image`` makes it, a 16-bit PNG for
    k / 65535, else ``.npy``."""
    for index, peak in enumerate((255, 65535)):
        levels = np.round(image.astype(np.float64) * peak)
        decoded = (levels.astype(np.float32) / np.float32(peak)).astype(np.float32)
        if np.array_equal(decoded, image):
            pixels = levels.astype(np.uint8 if peak == 255 else np.uint16)
            pixels = pixels[..., 0] if pixels.shape[2] == 1 else pixels
            if peak == 255:
                return index, _png(pixels)
            ok, encoded = cv2.imencode(".png", pixels if pixels.ndim == 2 else pixels[..., ::-1])
            if ok:
                return index, encoded.tobytes()
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(image, dtype=np.float32), allow_pickle=False)
    return 2, buffer.getvalue()


def save_inputs(run_dir: Path, pair: Pair) -> None:
    """Write the pair's clean image losslessly, its mask (1-bit) and the masked input (holes white, for the report)
    into ``run_dir/inputs/``. A sealed file already there is kept when it decodes to the same array (so earlier
    rows' seals stay valid) and replaced otherwise."""
    run_dir = Path(run_dir)
    index, data = _lossless(pair.image)
    clean = run_dir / clean_files(pair.image_name)[index]
    if not (clean.is_file() and np.array_equal(_decode_image(clean), pair.image)):
        write_bytes(clean, data)
    display = run_dir / clean_files(pair.image_name)[0]
    if not display.exists():
        write_bytes(display, _png(to_uint8(pair.image)))
    mask = run_dir / mask_file(pair.image_name, pair.mask_name)
    if not (mask.is_file() and np.array_equal(_decode_mask(mask), pair.mask)):
        write_bytes(mask, _png(np.ascontiguousarray(pair.mask, dtype=bool)))
    masked = run_dir / INPUTS / f"{pair.image_name}__{pair.mask_name}.png"
    if not masked.exists():
        write_bytes(masked, _png(to_uint8(np.where(pair.mask[..., None], pair.image, 1.0))))


def _decode_image(path: Path) -> np.ndarray:
    """A stored clean image or output as float32 H x W x C (what ``datasets.load_image`` reads; ``.npy`` as saved)."""
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    from dip_bench.datasets import load_image

    return load_image(path)


def _decode_mask(path: Path) -> np.ndarray:
    from dip_bench.datasets import load_mask

    return load_mask(path, strict=True, require_hole=False)


def stored_mask(run_dir: Path, image: str, mask: str) -> np.ndarray | None:
    """The mask a run stored for (image, mask): bool H x W, True = known; None when the run holds none (runs written
    before the row format /2)."""
    path = Path(run_dir) / mask_file(image, mask)
    return _decode_mask(path) if path.is_file() else None


# --- sealing and verifying -----------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def seals_for(run_dir: Path, definition: Mapping[str, Any], output: str) -> dict[str, dict[str, str]]:
    """The seals of an ok row whose output is ``output`` (relative path): file and SHA-256 of its output, its clean
    image (the stored file that decodes to the definition's ``image_sha256``) and its mask. Empty when the
    definition names no array checksums or a file is missing (a row written without artifacts, e.g. by a test):
    such a row is *unsealed* and reported so."""
    from dip_bench.bench.suite import array_sha256

    run_dir = Path(run_dir)
    if not output or "image_sha256" not in definition or "mask_sha256" not in definition:
        return {}
    image = next((name for name in clean_files(str(definition["image"])) if (run_dir / name).is_file()
                  and array_sha256(_decode_image(run_dir / name)) == definition["image_sha256"]), None)
    files = {"output": output, "image": image, "mask": mask_file(str(definition["image"]), str(definition["mask"]))}
    if any(name is None or not (run_dir / name).is_file() for name in files.values()):
        return {}
    return {what: {"file": name, "sha256": file_sha256(run_dir / name)} for what, name in files.items()}


def _same(stored: Any, computed: float) -> bool:
    """Bit equality of a stored number and a recomputed one (NaN equals NaN)."""
    if not isinstance(stored, (int, float)):
        return False
    return float(stored) == computed or (math.isnan(float(stored)) and math.isnan(computed))


def verify_row(run_dir: Path, stored_row: StoredRow, cache: dict[tuple[str, str], np.ndarray] | None = None
               ) -> str | None:
    """Why the sealed row ``stored_row`` does not hold (one line naming the file or number), or None when every
    sealed file has its SHA-256, the image and mask are the definition's arrays and the recomputed metrics equal the
    stored ones exactly. ``cache`` keeps decoded inputs by (file, SHA-256) across rows of one folder."""
    from dip_bench.bench.suite import array_sha256

    run_dir = Path(run_dir)
    cache = {} if cache is None else cache
    arrays: dict[str, np.ndarray] = {}
    for what in SEALED:
        seal = stored_row.seals.get(what)
        if seal is None:
            return f"no seal for its {what}"
        name = seal["file"]
        path = run_dir / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            return f"{name}: a sealed file outside the run folder"
        if not path.is_file():
            return f"{name}: missing"
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != seal["sha256"]:
            return f"{name}: its SHA-256 differs from the row's seal (the file was replaced or edited)"
        key = (name, seal["sha256"])
        if key not in cache or what == "output":
            try:
                cache[key] = _decode_mask(path) if what == "mask" else _decode_image(path)
            except (ValueError, OSError) as error:  # InputError is a ValueError
                return f"{name}: not readable ({str(error).splitlines()[0][:120]})"
        arrays[what] = cache[key]
    definition = stored_row.definition
    for what in ("image", "mask"):
        expected = definition.get(f"{what}_sha256")
        if expected is not None and array_sha256(arrays[what]) != expected:
            return f"{stored_row.seals[what]['file']}: not the {what} the row's definition names"
    image, output, mask = arrays["image"], arrays["output"], arrays["mask"]
    if output.shape != image.shape or mask.shape != image.shape[:2]:
        return f"{stored_row.seals['output']['file']}: {output.shape} does not match the image {image.shape}"
    computed = {**metrics.score(image, output, mask), "hole_ratio": round(float(1.0 - mask.mean()), 6)}
    for column in RECOMPUTED:
        value = stored_row.table.get(column)
        if not _same(value, computed[column]):
            return (f"{column} = {value!r} in the row file, but {computed[column]!r} recomputed from "
                    f"{stored_row.seals['output']['file']} (a hand-edited or foreign number)")
    return None
