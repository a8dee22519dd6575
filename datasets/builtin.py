"""The fixed built-in set: committed image and mask PNGs under ``datasets/data`` and their manifest.

Layout: ``data/images/NAME_SIZE.png`` (8-bit L or RGB), ``data/masks/mask_KIND_SIZE.png`` (8-bit L, white 255 =
known, black 0 = hole) and ``data/manifest.json`` (SHA-256, bytes, kind, hole ratio, source, licence of every file).
Loading reads the committed files, never regenerates them, so every machine sees the same bytes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dip_bench.datasets.errors import InputError
from dip_bench.datasets.images import IMAGES
from dip_bench.datasets.io import load_image, load_mask
from dip_bench.datasets.masks import MASK_KINDS
from dip_bench.contract import UserError

RESOLUTIONS: tuple[int, ...] = (64, 128, 256, 512)
DATA_DIR = Path(__file__).resolve().parent / "data"
MANIFEST = DATA_DIR / "manifest.json"


def mask_seed(kind: str) -> int:
    """The fixed seed of a built-in mask kind: the first 4 bytes of SHA-256("dip-bench mask " + kind)."""
    return int.from_bytes(hashlib.sha256(f"dip-bench mask {kind}".encode()).digest()[:4], "big")


def image_path(name: str, size: int) -> Path:
    """Committed PNG of built-in image ``name`` at ``size`` x ``size`` px."""
    return DATA_DIR / "images" / f"{name}_{size}.png"


def mask_path(kind: str, size: int) -> Path:
    """Committed PNG of built-in mask ``kind`` at ``size`` x ``size`` px."""
    return DATA_DIR / "masks" / f"mask_{kind}_{size}.png"


def load_builtin_image(name: str, size: int) -> np.ndarray:
    """Built-in image as float32 size x size x C in [0, 1] (C = 1 gray, 3 colour), read from its committed PNG."""
    _check_choice("image", name, IMAGES)
    _check_size(size)
    return load_image(image_path(name, size))


def load_builtin_mask(kind: str, size: int) -> np.ndarray:
    """Built-in mask as bool size x size, True = known pixel, read from its committed PNG."""
    _check_choice("mask kind", kind, MASK_KINDS)
    _check_size(size)
    return load_mask(mask_path(kind, size), strict=True)


def read_manifest() -> list[dict[str, Any]]:
    """The manifest's file entries (see ``datasets/README.md`` for the fields)."""
    return json.loads(MANIFEST.read_text())["files"]


def list_builtin() -> pd.DataFrame:
    """One row per built-in file: name (image name or mask kind), kind ('image' | 'mask'), size (px), channels
    (images; 1 gray, 3 colour; NA for masks), hole_ratio (masks; NaN for images) and file (relative to data/)."""
    rows = [
        {
            "name": entry["name"],
            "kind": entry["kind"],
            "size": entry["size"],
            "channels": entry.get("channels"),
            "hole_ratio": entry.get("hole_ratio"),
            "file": entry["file"],
        }
        for entry in read_manifest()
    ]
    table = pd.DataFrame(rows, columns=["name", "kind", "size", "channels", "hole_ratio", "file"])
    table["channels"] = table["channels"].astype("Int64")
    table["hole_ratio"] = table["hole_ratio"].astype(float)
    return table


def export_builtin(out_dir: Path) -> int:
    """Copy the built-in PNGs into ``out_dir`` as NAME_SIZE.png and mask_KIND_SIZE.png; return how many."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder; choose another export folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = read_manifest()
    for entry in entries:
        shutil.copyfile(DATA_DIR / entry["file"], out_dir / Path(entry["file"]).name)
    return len(entries)


def verify_manifest() -> list[str]:
    """Recompute every committed file's SHA-256 and size; return one line per problem (empty list = all good).

    Also reports files missing from the manifest or the disk, and built-in (image|kind, size) entries that are absent.
    """
    try:
        entries = read_manifest()
    except (OSError, ValueError, KeyError) as error:
        return [f"{MANIFEST}: cannot read the manifest ({error}); regenerate it with python -m dip_bench.datasets.build"]
    problems = []
    listed = {entry["file"] for entry in entries}
    for entry in entries:
        path = DATA_DIR / entry["file"]
        if not path.is_file():
            problems.append(f"{path}: listed in the manifest but missing")
            continue
        data = path.read_bytes()
        if len(data) != entry["bytes"]:
            problems.append(f"{path}: {len(data)} bytes, manifest says {entry['bytes']}")
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            problems.append(f"{path}: SHA-256 {digest}, manifest says {entry['sha256']}")
    for path in sorted((DATA_DIR / "images").glob("*.png")) + sorted((DATA_DIR / "masks").glob("*.png")):
        if path.relative_to(DATA_DIR).as_posix() not in listed:
            problems.append(f"{path}: on disk but not in the manifest")
    expected = [image_path(name, size) for name in IMAGES for size in RESOLUTIONS]
    expected += [mask_path(kind, size) for kind in MASK_KINDS for size in RESOLUTIONS]
    for path in expected:
        if path.relative_to(DATA_DIR).as_posix() not in listed:
            problems.append(f"{path}: built-in file not in the manifest")
    return problems


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"unknown built-in {what} {value!r}; choose one of: {', '.join(choices)}")


def _check_size(size: int) -> None:
    if size not in RESOLUTIONS:
        raise UserError(f"built-in size {size!r} is not available; choose one of: {', '.join(map(str, RESOLUTIONS))}")
