"""Atomic file writes: write to a temporary file in the same folder, then rename, so a crash never leaves half a
file behind."""
from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from dip_bench.contract import UserError, to_uint8


class DiskFull(UserError):
    """No space left (ENOSPC) or over quota (EDQUOT) while writing: one line naming the file, never a traceback."""


def umask() -> int:
    """The process's umask (read from /proc where it can be, so that no other thread sees it changed)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, with the permissions a plain ``open`` gives (0666 less the umask, not
    ``mkstemp``'s 0600), so a shared run folder stays readable to the group. A full disk or quota is ``DiskFull``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        _raise_if_full(error, path)
        raise
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            _raise_if_full(error, path)
        raise


def _raise_if_full(error: OSError, path: Path) -> None:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFull(f"{path}: cannot write, {error.strerror or 'no space left'} (disk full or over quota); free "
                       f"space on the disk of {path.parent} and run the command again (a run: add --resume, every "
                       "finished row is kept)") from None


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_png(path: Path, image: np.ndarray) -> None:
    """Save a float [0, 1] H x W x C image (C = 1 or 3) as an 8-bit PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


def check_output_file(out: Path, option: str, inputs: dict[str, Path | None]) -> None:
    """Refuse an output file that is one of ``inputs`` (symlinks and hard links resolved) or a folder, and prove
    that its folder is writable by creating it and a temporary file there; ``UserError`` naming ``option``.

    Call it before any long work, so that a bad ``--out`` is found before the fit, not after.
    """
    out = Path(out)
    if out.is_dir():
        raise UserError(f"{option} {out}: is a folder; give a file name such as {out / 'out.png'}")
    for what, path in inputs.items():
        if path is not None and _same_file(out, Path(path)):
            raise UserError(f"{option} {out}: is the same file as {what} {path}; writing it would destroy your "
                            "input, give another output name")
    check_writable_dir(out.parent, option, shown=out)


def check_writable_dir(folder: Path, option: str, shown: Path | None = None) -> None:
    """Create ``folder`` (with its parents) and a temporary file in it, or raise ``UserError`` naming ``option``."""
    folder = Path(folder)
    shown = folder if shown is None else shown
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileExistsError:
        raise UserError(f"{option} {shown}: a parent path is a file, not a folder; choose another location") from None
    except OSError as error:
        raise UserError(f"{option} {shown}: cannot write there ({error.strerror}: {error.filename or folder}); "
                        "choose a writable location") from None


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (after symlinks; hard links by inode)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
