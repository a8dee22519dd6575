"""External image/mask sets: a folder of ``NAME.png`` + ``NAME_mask.png`` pairs (mask white = known).

This is the layout of the official Deep Image Prior examples (https://github.com/DmitryUlyanov/deep-image-prior,
data/inpainting: kate.png + kate_mask.png, ...). Images may also be .jpg, .jpeg, .bmp, .tif or .tiff; masks should be
lossless (a JPEG mask is thresholded at 128 with an InputWarning).
"""
from __future__ import annotations

from contextlib import suppress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dip_bench.datasets.errors import InputError, NothingToInpaint
from dip_bench.datasets.io import check_pair, load_image, load_mask

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_SUFFIX = "_mask"


@dataclass(frozen=True, eq=False)
class Pair:
    """One image (float32 H x W x C in [0, 1]) and its mask (bool H x W, True = known) under their names.

    ``mask_name`` is ``"file"`` for a ``NAME_mask`` file, else the mask kind. ``image_path``/``mask_path`` are the
    files they were read from (None for a generated mask); ``generated`` says the mask was drawn by ``make_mask``
    rather than read; ``source`` describes where the pair came from (a suite's data source: kind, size or path,
    pad, mask seed) and is part of a benchmark row's definition.
    """

    image_name: str
    mask_name: str
    image: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    image_path: Path | None = None
    mask_path: Path | None = None
    generated: bool = False
    source: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The image's name (``NAME`` of ``NAME.png``)."""
        return self.image_name


def load_folder(root: Path, *, strict: bool = False) -> list[Pair]:
    """Load every ``NAME.EXT`` + ``NAME_mask.EXT`` pair in ``root`` (not recursive), sorted by name.

    Every file goes through ``load_image`` / ``load_mask`` (``strict`` as there) and ``check_pair``. A pair whose mask
    has no hole is kept: ``check_pair`` raises ``NothingToInpaint`` for it when the caller runs it, so the caller can
    skip that pair with the reason. Images without a mask, masks without an image, two files with the same name and
    an empty folder are refused with ``InputError``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder; give a folder of NAME.png + NAME_mask.png pairs")
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if not path.is_file() or path.suffix.lower() not in SUFFIXES:
            continue
        is_mask = path.stem.endswith(MASK_SUFFIX)
        name = path.stem[: -len(MASK_SUFFIX)] if is_mask else path.stem
        found = masks if is_mask else images
        if name in found:
            raise InputError(f"{path}: {found[name].name} has the same name; keep only one of them")
        found[name] = path
    if not images and not masks:
        raise InputError(f"{root}: no images found; put NAME.png + NAME_mask.png pairs (mask white = known) in it")
    orphan_masks = [masks[name].name for name in sorted(set(masks) - set(images))]
    if orphan_masks:
        raise InputError(f"{root}: masks without an image: {', '.join(orphan_masks)}; add NAME.png or remove them")
    orphan_images = [images[name].name for name in sorted(set(images) - set(masks))]
    if orphan_images:
        raise InputError(
            f"{root}: images without a mask: {', '.join(orphan_images)}; add NAME{MASK_SUFFIX}.png for each"
            " (white = known, black = hole) or remove them"
        )
    pairs = []
    for name in sorted(images):
        image = load_image(images[name])
        mask = load_mask(masks[name], strict=strict, require_hole=False)
        with suppress(NothingToInpaint):  # kept: the caller's own check_pair raises it and skips the pair
            check_pair(image, mask, images[name], masks[name])
        pairs.append(Pair(name, "file", image, mask, images[name], masks[name]))
    return pairs
