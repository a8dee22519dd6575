"""Suites: TOML files (read with ``tomllib``) naming methods, images, masks, size and seeds.

Layout of a suite file (see ``bench/suites/*.toml``)::

    name = "quick"
    device = "cpu"                 # default device (--device overrides)
    seeds = [0]
    [[data]]                       # one or more image/mask sources
    source = "builtin"             # built-in set: images x mask kinds at `size`
    size = 128
    images = ["astronaut", "camera"]
    masks = ["text", "pixels50"]
    [[data]]
    source = "folder"              # NAME.png + NAME_mask.png pairs under --data-root / path
    path = "inpainting"
    masks = ["file"]               # "file" = NAME_mask.png; a mask kind = generated at the image's size
    mask_seed = 0
    [[methods]]
    name = "dip-skip"              # every other key is a method parameter (preset, iterations, ...)
    preset = "text"
    images = ["astronaut"]         # optional: restrict this method to some images / masks
    masks = ["text"]

Rows are the product methods x pairs x seeds, in a fixed order, so ``--shard K/N`` slices are deterministic.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dip_bench.contract import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUITES_DIR = Path(__file__).with_name("suites")
SELECTORS = ("name", "images", "masks")


@dataclass(frozen=True)
class MethodEntry:
    """One method of a suite with its parameters; ``images``/``masks`` restrict it (None = all)."""

    name: str
    params: dict[str, Any]
    images: tuple[str, ...] | None = None
    masks: tuple[str, ...] | None = None

    @property
    def preset(self) -> str:
        return str(self.params.get("preset", ""))


@dataclass(frozen=True)
class Pair:
    """A clean image (H x W x C float32 in [0, 1]) and a mask (H x W bool, True = known) under their names."""

    image_name: str
    mask_name: str
    image: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Row:
    method: MethodEntry
    pair: Pair
    seed: int

    def key(self) -> dict[str, Any]:
        return {"method": self.method.name, "preset": self.method.preset, "image": self.pair.image_name,
                "mask": self.pair.mask_name, "seed": self.seed}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    device: str
    seeds: tuple[int, ...]
    data: tuple[dict[str, Any], ...]
    methods: tuple[MethodEntry, ...]
    path: Path


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """A shipped suite by name (``quick``, ``standard``, ``paper``) or a user's TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise UserError(f"unknown suite {name_or_path!r}: choose one of {', '.join(suite_names())} or give a "
                             "path to a .toml file")
    if not path.exists():
        raise UserError(f"{path}: suite file not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML ({error})") from None
    if not raw.get("methods") or not raw.get("data"):
        raise UserError(f"{path}: a suite needs at least one [[data]] and one [[methods]] table")
    methods = []
    for entry in raw["methods"]:
        if "name" not in entry:
            raise UserError(f"{path}: every [[methods]] table needs a name")
        params = {k: v for k, v in entry.items() if k not in SELECTORS}
        methods.append(MethodEntry(
            name=entry["name"], params=params,
            images=tuple(entry["images"]) if "images" in entry else None,
            masks=tuple(entry["masks"]) if "masks" in entry else None,
        ))
    return Suite(
        name=raw.get("name", path.stem), description=raw.get("description", ""), device=raw.get("device", "auto"),
        seeds=tuple(raw.get("seeds", [0])), data=tuple(raw["data"]), methods=tuple(methods), path=path,
    )


def load_pairs(suite: Suite, data_root: Path | None = None) -> list[Pair]:
    """Every (image, mask) pair of the suite's data sources, in file order."""
    from dip_bench import datasets

    pairs: list[Pair] = []
    for source in suite.data:
        kind = source.get("source", "builtin")
        if kind == "builtin":
            size = int(source.get("size", 128))
            for image_name in source.get("images", list(datasets.IMAGES)):
                image = datasets.load_builtin_image(image_name, size)
                for mask_kind in source.get("masks", list(datasets.MASK_KINDS)):
                    pairs.append(Pair(image_name, mask_kind, image, datasets.load_builtin_mask(mask_kind, size)))
        elif kind == "folder":
            pairs.extend(_folder_pairs(source, suite, data_root))
        else:
            raise UserError(f"{suite.path}: unknown data source {kind!r}: use 'builtin' or 'folder'")
    return pairs


def _folder_pairs(source: dict[str, Any], suite: Suite, data_root: Path | None) -> Iterator[Pair]:
    from dip_bench import datasets

    if data_root is None:
        raise UserError(f"suite {suite.name!r} reads image folders: give --data-root (e.g. ../shared/data/dip-official)")
    folder = Path(data_root) / source.get("path", "")
    if not folder.is_dir():
        raise UserError(f"{folder}: folder not found; check --data-root")
    wanted = source.get("images")
    masks = source.get("masks", ["file"])
    if masks == ["file"]:
        for pair in datasets.load_folder(folder):
            if wanted is None or pair.name in wanted:
                yield Pair(pair.name, "file", pair.image, pair.mask)
        return
    names = wanted or sorted(p.stem for p in folder.glob("*.png") if not p.stem.endswith("_mask"))
    for name in names:
        image = datasets.load_image(folder / f"{name}.png")
        for mask_kind in masks:
            mask = datasets.make_mask(mask_kind, image.shape[:2], int(source.get("mask_seed", 0)))
            yield Pair(name, mask_kind, image, mask)


def expand_rows(suite: Suite, pairs: list[Pair], seeds: tuple[int, ...] | None = None,
                methods: list[str] | None = None, images: list[str] | None = None) -> list[Row]:
    """The suite's rows in a fixed order, optionally filtered by method and image names."""
    rows = []
    for entry in suite.methods:
        if methods and entry.name not in methods:
            continue
        for pair in pairs:
            if images and pair.image_name not in images:
                continue
            if entry.images is not None and pair.image_name not in entry.images:
                continue
            if entry.masks is not None and pair.mask_name not in entry.masks:
                continue
            rows.extend(Row(entry, pair, seed) for seed in (seeds or suite.seeds))
    return rows


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → (2, 4); K runs from 1 to N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r} is not K/N, e.g. --shard 1/4") from None
    if not 1 <= k <= n:
        raise UserError(f"--shard {text}: K must lie between 1 and N")
    return k, n


def shard(rows: list[Row], k: int, n: int) -> list[Row]:
    """Rows k, k+n, k+2n, ... (1-based), a deterministic slice."""
    return rows[k - 1::n]
