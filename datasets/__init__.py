"""dip-bench data: the fixed built-in image/mask set, seeded mask generators, external folders and strict input checks.

Conventions: images are float32 H x W x C in [0, 1] (C = 1 gray, 3 colour); masks are bool H x W with True = KNOWN
pixel (white in mask files), False = hole. User mistakes raise ``InputError`` (a ValueError) with one line naming
the file and the fix. See ``datasets/README.md`` for sources, licences and the file layout.
"""
from __future__ import annotations

from dip_bench.datasets.builtin import (
    RESOLUTIONS,
    export_builtin,
    list_builtin,
    load_builtin_image,
    load_builtin_mask,
    mask_seed,
    verify_manifest,
)
from dip_bench.datasets.errors import InputError, InputWarning, NothingToInpaint
from dip_bench.datasets.folder import Pair, load_folder
from dip_bench.datasets.images import IMAGES
from dip_bench.datasets.io import check_mask, check_pair, load_image, load_mask, load_pair
from dip_bench.datasets.masks import HOLE_RANGES, MASK_KINDS, hole_ratio, make_mask

__all__ = [
    "HOLE_RANGES",
    "IMAGES",
    "MASK_KINDS",
    "RESOLUTIONS",
    "InputError",
    "InputWarning",
    "NothingToInpaint",
    "Pair",
    "check_mask",
    "check_pair",
    "export_builtin",
    "hole_ratio",
    "list_builtin",
    "load_builtin_image",
    "load_builtin_mask",
    "load_folder",
    "load_image",
    "load_mask",
    "load_pair",
    "make_mask",
    "mask_seed",
    "verify_manifest",
]
