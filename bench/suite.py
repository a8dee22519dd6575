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
    pad = 0                        # optional: reflect-pad every image by N px per side (masks then generated)
    [[data]]
    source = "folder"              # NAME.png + NAME_mask.png pairs under --data-root / path
    path = "inpainting"
    masks = ["file"]               # "file" = NAME_mask.png; a mask kind = generated at the image's size
    mask_seed = 0
    [[methods]]
    name = "dip-skip"              # a registered name or a module:attribute factory
    preset = "text"                # every other key is a method parameter (preset, iterations, ...)
    images = ["astronaut"]         # optional: restrict this method to some images / masks
    masks = ["text"]

Everything is checked when the suite loads and its rows are expanded, before any row runs: unknown keys, methods,
parameter names and types, images, masks, selectors that match nothing, duplicate rows. Rows are the product
methods x pairs x seeds, in a fixed order, so ``--shard K/N`` slices are deterministic; a row's id (see
``bench.results``) covers everything that defines it.

``pad = N`` reproduces the DIP paper's Table 1 protocol, which reflect-pads barbara 512 -> 514 (N = 1) so that the
image fits the net; the masks are generated at the padded size (built-in kinds with their built-in seeds).
Masks generated for a run (a folder's mask kinds, padded built-ins) are saved into the run folder
(``masks/<image>__<kind>.png``, SHA-256 in ``meta.json``), and a resumed run uses the saved ones.

Size (over 400 lines): every check of a suite file, its data sources and its rows, before any work starts,
lives in one module, beside the suite's layout above.
"""
from __future__ import annotations

import hashlib
import re
import warnings
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dip_bench.bench.atomic import write_png
from dip_bench.bench.registry import SEED_LIMIT, create, get_method
from dip_bench.bench.results import canonical_json, make_row_id
from dip_bench.contract import UserError, check_choices, is_int, read_toml
from dip_bench.datasets import IMAGES, MASK_KINDS, RESOLUTIONS, Pair

SUITES_DIR = Path(__file__).with_name("suites")
SELECTORS = ("name", "images", "masks")
TOP_KEYS = ("name", "description", "device", "seeds", "data", "methods", "executor")
#: a suite's name: one path component (the default run folder is runs/<name>), never '..', never absolute
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SOURCE_KEYS = {"builtin": ("source", "size", "images", "masks", "pad"),
               "folder": ("source", "path", "images", "masks", "mask_seed", "pad")}
MASKS_DIR = "masks"


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
class Row:
    """One benchmark row: a method with its parameters on one image/mask pair with one seed."""

    method: MethodEntry
    pair: Pair
    seed: int

    def key(self) -> dict[str, Any]:
        return {"method": self.method.name, "preset": self.method.preset, "image": self.pair.image_name,
                "mask": self.pair.mask_name, "seed": self.seed}

    def definition(self) -> dict[str, Any]:
        """Everything that defines the row (hashed into its id): method, every parameter, image and mask names and
        content checksums, seed, size and the data source (incl. ``pad``)."""
        h, w = self.pair.image.shape[:2]
        return {"method": self.method.name, "params": self.method.params, "image": self.pair.image_name,
                "mask": self.pair.mask_name, "seed": self.seed, "size": f"{w}x{h}", "data": dict(self.pair.source),
                "image_sha256": array_sha256(self.pair.image), "mask_sha256": array_sha256(self.pair.mask)}

    @property
    def id(self) -> str:
        return make_row_id(self.definition())


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    device: str
    seeds: tuple[int, ...]
    data: tuple[dict[str, Any], ...]
    methods: tuple[MethodEntry, ...]
    path: Path


def array_sha256(array: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of an array's dtype, shape and bytes (same pixels -> same digest)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """A shipped suite by name (``quick``, ``standard``, ``paper``) or a user's TOML file by path, checked in full
    (keys, types, methods and their parameters); images are checked by ``load_pairs``."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise UserError(f"unknown suite {name_or_path!r}: choose one of {', '.join(suite_names())} or give a "
                            "path to a .toml file")
    if not path.is_file():
        raise UserError(f"{path}: suite file not found")
    raw = read_toml(path, what="suite")
    _only_keys(raw, TOP_KEYS, f"{path}")
    if not isinstance(raw.get("methods"), list) or not raw["methods"] or not isinstance(raw.get("data"), list) \
            or not raw["data"]:
        raise UserError(f"{path}: a suite needs at least one [[data]] and one [[methods]] table")
    for key in ("name", "description", "device"):
        if key in raw and not isinstance(raw[key], str):
            raise UserError(f"{path}: {key} must be a string")
    name = raw.get("name", path.stem)
    if not NAME.fullmatch(name):
        where = "name = " + repr(name) if "name" in raw else f"the file name {path.name} (the suite has no name key)"
        raise UserError(f"{path}: {where}: a suite's name is its run folder runs/<name>, so 1-64 letters, digits, "
                        "'.', '_' or '-' starting with a letter or digit (no '/', no '..'); e.g. name = \"mine\"")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(is_int(s, 0, SEED_LIMIT - 1) for s in seeds):
        raise UserError(f"{path}: seeds must be a non-empty list of integers in 0..2**63-1, e.g. seeds = [0, 1, 2]")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"{path}: seeds {seeds} repeat a seed; each seed once")
    data = tuple(_check_source(source, index, path) for index, source in enumerate(raw["data"], start=1))
    methods = tuple(_method_entry(entry, index, path) for index, entry in enumerate(raw["methods"], start=1))
    return Suite(name=name, description=raw.get("description", ""),
                 device=raw.get("device", "auto"), seeds=tuple(seeds), data=data, methods=methods, path=path)


def run_folder(name: str) -> Path:
    """The default run folder of suite ``name``: ``runs/<name>``, refused unless ``name`` is one safe path
    component (a ``Suite`` made in code skips ``load_suite``'s check)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"suite name {name!r} cannot name a folder under runs/; give --out, or name the suite with "
                        "1-64 letters, digits, '.', '_' or '-'")
    return Path("runs") / name


def _only_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise UserError(f"{where}: unknown key {', '.join(unknown)} (allowed: {', '.join(allowed)})")


def _names(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"{where}: {key} must be a non-empty list of names, e.g. {key} = [\"...\"]")
    if len(set(value)) != len(value):
        raise UserError(f"{where}: {key} lists a name twice ({', '.join(n for n, c in Counter(value).items() if c > 1)})")
    return tuple(value)


def _check_source(source: Any, index: int, path: Path) -> dict[str, Any]:
    """One ``[[data]]`` table, checked; returns it with its defaults filled in."""
    where = f"{path}: [[data]] #{index}"
    if not isinstance(source, dict):
        raise UserError(f"{where}: must be a table")
    kind = source.get("source", "builtin")
    if kind not in SOURCE_KEYS:
        raise UserError(f"{where}: unknown data source {kind!r}: use 'builtin' or 'folder'")
    _only_keys(source, SOURCE_KEYS[kind], where)
    pad = source.get("pad", 0)
    if not is_int(pad, 0, 256):
        raise UserError(f"{where}: pad = {pad!r} must be an integer number of pixels in 0..256")
    if kind == "builtin":
        size = source.get("size", 128)
        if size not in RESOLUTIONS or not is_int(size):
            raise UserError(f"{where}: size = {size!r}: the built-in set has sizes {', '.join(map(str, RESOLUTIONS))}")
        images = _names(source.get("images", list(IMAGES)), where, "images")
        masks = _names(source.get("masks", list(MASK_KINDS)), where, "masks")
        check_choices(images, IMAGES, "built-in image", where)
        check_choices(masks, MASK_KINDS, "mask kind", where)
        return {"source": "builtin", "size": size, "images": images, "masks": masks, "pad": pad}
    folder = source.get("path", "")
    if not isinstance(folder, str):
        raise UserError(f"{where}: path must be a string (relative to --data-root)")
    images = _names(source["images"], where, "images") if "images" in source else None
    masks = _names(source.get("masks", ["file"]), where, "masks")
    for kind_name in masks:
        if kind_name != "file" and kind_name not in MASK_KINDS:
            raise UserError(f"{where}: unknown mask {kind_name!r}; use \"file\" (NAME_mask.png) or a kind: "
                            f"{', '.join(MASK_KINDS)}")
    if "file" in masks and pad:
        raise UserError(f"{where}: pad works only with generated masks (a NAME_mask file has the unpadded size); "
                        "drop pad or list mask kinds instead of \"file\"")
    mask_seed = source.get("mask_seed", 0)
    if not is_int(mask_seed, 0):
        raise UserError(f"{where}: mask_seed = {mask_seed!r} must be an integer >= 0")
    return {"source": "folder", "path": folder, "images": images, "masks": masks, "mask_seed": mask_seed, "pad": pad}


def _method_entry(entry: Any, index: int, path: Path) -> MethodEntry:
    """One ``[[methods]]`` table: the method must exist and its parameters must fit its factory's signature."""
    where = f"{path}: [[methods]] #{index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise UserError(f"{where}: every [[methods]] table needs a name = \"...\"")
    params = {k: v for k, v in entry.items() if k not in SELECTORS}
    try:
        get_method(entry["name"]).validate(params, where=f"{where} ({entry['name']})")
    except UserError as error:
        message = str(error)
        raise UserError(message if message.startswith(str(path)) else f"{where}: {message}") from None
    return MethodEntry(name=entry["name"], params=params,
                       images=_names(entry["images"], where, "images") if "images" in entry else None,
                       masks=_names(entry["masks"], where, "masks") if "masks" in entry else None)


def load_pairs(suite: Suite, data_root: Path | None = None, run_dir: Path | None = None) -> list[Pair]:
    """Every (image, mask) pair of the suite's data sources, in file order; every file is read and checked.

    With ``run_dir``, masks generated earlier for that run (``masks/``) are used instead of generating them again.
    """
    from dip_bench import datasets

    pairs: list[Pair] = []
    for index, source in enumerate(suite.data, start=1):
        where = f"{suite.path}: [[data]] #{index}"
        definition = {k: v for k, v in source.items() if k not in ("images", "masks")}
        if source["source"] == "builtin":
            size, pad = source["size"], source["pad"]
            for image_name in source["images"]:
                path = datasets.builtin.image_path(image_name, size)
                image = _pad(datasets.load_builtin_image(image_name, size), pad)
                for kind in source["masks"]:
                    if pad:
                        mask = datasets.make_mask(kind, image.shape[:2], datasets.mask_seed(kind))
                        pairs.append(Pair(image_name, kind, image, mask, path, None, True, definition))
                    else:
                        pairs.append(Pair(image_name, kind, image, datasets.load_builtin_mask(kind, size), path,
                                          datasets.builtin.mask_path(kind, size), False, definition))
        else:
            pairs.extend(_folder_pairs(source, definition, where, suite, data_root))
    if run_dir is not None:
        pairs = [_saved_mask(pair, Path(run_dir)) for pair in pairs]
    return pairs


def _pad(image: np.ndarray, pad: int) -> np.ndarray:
    """Reflect-pad ``pad`` px on each side (H x W x C float32)."""
    return np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect").astype(np.float32) if pad else image


def _folder_pairs(source: dict[str, Any], definition: dict[str, Any], where: str, suite: Suite,
                  data_root: Path | None) -> list[Pair]:
    from dip_bench import datasets

    if data_root is None:
        raise UserError(f"suite {suite.name!r} reads image folders: give --data-root (e.g. ../shared/data/dip-official)")
    folder = Path(data_root) / source["path"]
    if not folder.is_dir():
        raise UserError(f"{folder}: folder not found ({where}); check --data-root and path")
    wanted, masks = source["images"], source["masks"]
    if masks == ("file",):
        found = datasets.load_folder(folder)
        missing = sorted(set(wanted or ()) - {pair.image_name for pair in found})
        if missing:
            raise UserError(f"{where}: no image {', '.join(missing)} in {folder}")
        return [replace(pair, source=definition) for pair in found if wanted is None or pair.image_name in wanted]
    if "file" in masks:
        raise UserError(f"{where}: masks = {list(masks)} mixes \"file\" with mask kinds; use two [[data]] tables")
    names = wanted or tuple(sorted(p.stem for p in folder.glob("*.png") if not p.stem.endswith("_mask")))
    if not names:
        raise UserError(f"{folder}: no NAME.png images ({where})")
    pairs = []
    for name in names:
        path = folder / f"{name}.png"
        image = _pad(datasets.load_image(path), source["pad"])
        for kind in masks:
            mask = datasets.make_mask(kind, image.shape[:2], source["mask_seed"])
            pairs.append(Pair(name, kind, image, mask, path, None, True, definition))
    return pairs


def saved_mask_path(run_dir: Path, pair: Pair) -> Path:
    """Where the generated mask of ``pair`` is kept in a run folder."""
    return Path(run_dir) / MASKS_DIR / f"{pair.image_name}__{pair.mask_name}.png"


def _saved_mask(pair: Pair, run_dir: Path) -> Pair:
    """The pair with the mask saved in ``run_dir`` when there is one (a warning when it differs from this one)."""
    from dip_bench.datasets import load_mask

    path = saved_mask_path(run_dir, pair)
    if not pair.generated or not path.is_file():
        return pair
    saved = load_mask(path, strict=True, require_hole=False)
    if saved.shape != pair.mask.shape:
        raise UserError(f"{path}: saved mask is {saved.shape[1]}x{saved.shape[0]} but image {pair.image_name} is "
                        f"{pair.mask.shape[1]}x{pair.mask.shape[0]}; this run folder belongs to other data: use "
                        "another --out")
    if not np.array_equal(saved, pair.mask):
        warnings.warn(f"{path}: differs from the mask generated here ({np.count_nonzero(saved != pair.mask)} pixels;"
                      " another library version?); using the saved mask so the run stays consistent", stacklevel=2)
    return replace(pair, mask=saved, mask_path=path)


def save_masks(pairs: list[Pair], run_dir: Path) -> dict[str, dict[str, str]]:
    """Write every generated mask into ``run_dir/masks/`` (white = known; kept when already there) and return the
    SHA-256 of every mask file the run uses, generated or built-in, by ``<image>__<mask>``."""
    checksums: dict[str, dict[str, str]] = {}
    for pair in pairs:
        path = pair.mask_path
        if pair.generated:
            path = saved_mask_path(run_dir, pair)
            if not path.is_file():
                write_png(path, pair.mask[..., None].astype(np.float32))
        if path is None:
            continue
        shown = path.relative_to(run_dir).as_posix() if path.is_relative_to(run_dir) else path.name
        checksums[f"{pair.image_name}__{pair.mask_name}"] = {
            "file": shown, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return checksums


def expand_rows(suite: Suite, pairs: list[Pair], seeds: tuple[int, ...] | None = None,
                methods: list[str] | None = None, images: list[str] | None = None) -> list[Row]:
    """The suite's rows in a fixed order, optionally filtered by method and image names.

    A method's ``images``/``masks`` selector that matches no pair, and two rows with the same definition, are
    ``UserError``s naming the suite.
    """
    image_names = {pair.image_name for pair in pairs}
    mask_names = {pair.mask_name for pair in pairs}
    rows = []
    for index, entry in enumerate(suite.methods, start=1):
        for selected, available, what in ((entry.images, image_names, "images"), (entry.masks, mask_names, "masks")):
            unknown = sorted(set(selected or ()) - available)
            if unknown:
                raise UserError(f"{suite.path}: [[methods]] #{index} ({entry.name}): {what} {', '.join(unknown)} "
                                f"are in no [[data]] source (there: {', '.join(sorted(available))})")
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
    counts = Counter(canonical_json(row.definition()) for row in rows)
    twice = [row for row in rows if counts[canonical_json(row.definition())] > 1]
    if twice:
        row = twice[0]
        raise UserError(f"{suite.path}: {len(twice)} rows are defined twice, e.g. {row.method.name} "
                        f"{row.pair.image_name}/{row.pair.mask_name} seed {row.seed} with the same parameters; "
                        "remove the duplicate [[methods]] or [[data]] table")
    return rows


def check_methods(rows: list[Row], device: str) -> None:
    """Build each distinct (method, parameters) of ``rows`` once, so that a value a factory refuses (``every = 0``,
    ``lr = -1``) is one ``UserError`` before the first row runs; a built method with ``check_size(height, width)``
    (``contract.Inpainter``) must accept every image size of its rows. Unavailable methods are left to their rows,
    which are then skipped with the reason."""
    built: dict[str, Any] = {}
    sized: set[tuple[str, tuple[int, ...]]] = set()
    for row in rows:
        entry = row.method
        identity = canonical_json([entry.name, entry.params])
        if identity not in built:
            built[identity] = None
            if get_method(entry.name).unavailable_reason(**entry.params) is not None:
                continue
            try:
                built[identity] = create(entry.name, seed=row.seed, device=device, **entry.params)
            except UserError as error:
                raise UserError(f"method {entry.name} with {canonical_json(entry.params)}: {error}") from None
        size = tuple(row.pair.image.shape[:2])
        check_size = getattr(built[identity], "check_size", None)
        if (identity, size) in sized or not callable(check_size):
            continue
        sized.add((identity, size))
        try:
            check_size(*size)
        except UserError as error:
            raise UserError(f"method {entry.name} with {canonical_json(entry.params)} cannot take image "
                            f"{row.pair.image_name} ({size[1]}x{size[0]}): {error}") from None


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
