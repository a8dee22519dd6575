"""The exceptions and warning raised for bad user inputs (images, masks, folders).

Every message is one line that names the file and says how to fix it; the CLI prints it without a traceback.
"""
from __future__ import annotations

from dip_bench.contract import UserError


class InputError(UserError):
    """A user-supplied image, mask or folder cannot be used as it is."""


class NothingToInpaint(InputError):
    """The mask has no hole (every pixel is known): there is nothing to inpaint, so the caller skips the pair."""


class InputWarning(UserWarning):
    """An input was usable only after a lossy fix (for example a non-binary mask thresholded at 128)."""
