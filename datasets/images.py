"""The built-in images: photographs and textures shipped inside scikit-image (``skimage.data``), with their licences.

Each is centre-cropped to a square and resized with Pillow's Lanczos filter (anti-aliased when shrinking) to every
benchmark resolution. The results are committed as PNGs under ``datasets/data/images`` because resampled bytes can
change between library versions; ``python -m dip_bench.datasets.build`` regenerates them from this table.
Source: https://github.com/scikit-image/scikit-image, skimage/data (licences as stated in each loader's docstring).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ImageSource:
    """A built-in image: its name (also its ``skimage.data`` loader), channels, original source and licence."""

    name: str
    channels: int
    source: str
    licence: str


# Licences as stated in each loader's docstring (scikit-image 0.26).
IMAGE_SOURCES: tuple[ImageSource, ...] = (
    ImageSource(
        "astronaut", 3,
        "Eileen Collins, NASA Great Images database (https://flic.kr/p/r9qvLn)",
        "public domain (NASA; no known copyright restrictions)",
    ),
    ImageSource(
        "camera", 1,
        "photograph by Lav Varshney (replaced the classic cameraman in skimage 0.18)",
        "CC0 1.0 (Lav Varshney)",
    ),
    ImageSource(
        "coffee", 3,
        "coffee cup, photograph by Rachel Michetti for Pikolo Espresso Bar",
        "CC0 1.0 (Rachel Michetti)",
    ),
    ImageSource(
        "chelsea", 3,
        "Chelsea the cat, photograph by Stefan van der Walt",
        "CC0 1.0 (Stefan van der Walt)",
    ),
    ImageSource(
        "rocket", 3,
        "DSCOVR launch on Falcon 9, SpaceX Photos (https://www.flickr.com/photos/spacexphotos/16511594820/)",
        "public domain (released by SpaceX)",
    ),
    ImageSource(
        "hubble_deep_field", 3,
        "Hubble eXtreme Deep Field, NASA (http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/)",
        "public domain (NASA)",
    ),
    ImageSource(
        "immunohistochemistry", 3,
        "IHC staining of colonic glands, Center for Microscopy And Molecular Imaging (CMMI)",
        "no known copyright restrictions (per scikit-image)",
    ),
    ImageSource(
        "brick", 1,
        "brick wall texture, CC0Textures Bricks25 (https://cc0textures.com/view.php?tex=Bricks25)",
        "CC0 1.0",
    ),
    ImageSource(
        "grass", 1,
        "grass texture by linolafett, DeviantArt (https://www.deviantart.com/linolafett/art/Grass-01-434853879)",
        "CC0 1.0",
    ),
    ImageSource(
        "gravel", 1,
        "gravel texture, CC0Textures Gravel04 (https://cc0textures.com/view.php?tex=Gravel04)",
        "CC0 1.0",
    ),
)
IMAGES: tuple[str, ...] = tuple(source.name for source in IMAGE_SOURCES)


def square_resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop uint8 H x W (gray) or H x W x 3 (RGB) to a square and resize it to ``size`` x ``size``.

    The crop keeps the middle ``min(H, W)`` rows/columns (the extra odd pixel goes to the bottom/right); the resize
    uses Pillow's Lanczos filter, whose support widens when shrinking, so it is anti-aliased. Returns uint8.
    """
    h, w = pixels.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(np.ascontiguousarray(pixels[top : top + side, left : left + side]))
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS))
