"""Atomic file writes: write to a temporary file in the same folder, then rename, so a crash never leaves half a
file behind."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from dip_bench.contract import to_uint8


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())



def write_png(path: Path, image: np.ndarray) -> None:
    """Save a float [0, 1] H x W x C image (C = 1 or 3) as an 8-bit PNG, atomically."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())
