"""Sealed rows: every number a row stores is computed from artifacts on disk, and the row keeps their SHA-256.

``store_output`` writes a row's composited output as an 8-bit PNG and returns the image exactly as stored, so the
harness scores what a reader of the run folder sees, bit for bit.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from dip_bench.bench.atomic import write_bytes
from dip_bench.contract import to_uint8

OUTPUTS = "outputs"


def store_output(run_dir: Path, row_id: str, final: np.ndarray) -> tuple[str, np.ndarray]:
    """Write ``final`` (float32 H x W x C in [0, 1]) as ``outputs/<row_id>.png``; return (path relative to
    ``run_dir``, the stored image as float32 H x W x C = uint8 / 255)."""
    pixels = to_uint8(final)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    relative = f"{OUTPUTS}/{row_id}.png"
    write_bytes(Path(run_dir) / relative, buffer.getvalue())
    stored = pixels.reshape(final.shape).astype(np.float32) / np.float32(255.0)
    return relative, stored
