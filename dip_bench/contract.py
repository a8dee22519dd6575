"""The one call contract that every inpainting method and the harness share (the bottom module: numpy only, torch
imported lazily). ``dip_bench.dip``, ``dip_bench.baselines``, ``dip_bench.datasets`` and ``dip_bench.bench`` may all
import it; it imports none of them.

Conventions at the boundary (numpy, never tensors):

- ``image``: float32 array H x W x C in [0, 1], C = 1 (gray) or 3 (RGB), finite, holes already blanked;
- ``mask``: bool array H x W, True = known pixel, False = hole (the official DIP convention), at least one known;
- a method returns ``(output, record)``: ``output`` float32 H x W x C in [0, 1]; ``record`` a JSON-serialisable
  mapping (``Record``) with ``iterations`` (0 for one-shot methods), ``seconds`` (the method alone) and ``device``;
- ``observe``: optional ``Observer`` owned by the harness, which an iterative method calls with its raw output along
  the fit; the harness scores what it is shown (see ``Inpainter``).

The harness alone holds the clean image: no argument, attribute or return value of the call carries it or anything
computed from its hole pixels. ``call_method`` is the one place that calls a method: private read-only copies in,
``check_output`` on what comes back.

A user's mistake (a bad argument, a missing file, an unavailable device) raises ``UserError`` with one line that
names the file or option and the fix; the CLI prints that line and exits 2. Any other exception is a bug and keeps
its traceback.
"""
from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    import torch

#: how far outside [0, 1] an output value may lie (float rounding) before the output is refused
RANGE_SLACK = 1e-6


class UserError(ValueError):
    """A mistake in what the user gave (file, option, parameter, suite): one line naming it and the fix."""


class ContractError(UserError):
    """A method broke the call contract (its output, its record, an in-place edit of its inputs): one line saying
    what; the harness turns it into that row's ``failed:`` status."""


class Record(TypedDict, total=False):
    """What a method reports about one call; ``iterations``, ``seconds`` and ``device`` are always present."""

    iterations: int
    seconds: float
    device: str
    seconds_per_iter: float
    peak_memory_mb: float


class Observer(Protocol):
    """The harness's eye on an iterative fit: ``observe(iteration, output, stats, label=None)``.

    ``output``: the raw method output at step ``iteration`` (0-based), float32 H x W x C in [0, 1], the image's own
    size (no padding); ``stats``: the method's own numbers at that step, e.g. ``{"loss": ...}``. ``label=None`` marks
    a curve point (the harness scores it and moves the progress bar); a label names an iterate that a stopping rule
    chose (``"es-wmv"``: the ES-WMV iterate, scored as ``es_psnr``; every label of ``STOP_LABELS``: a stopping rule's
    iterate, with stats ``{"stop_iteration", "stopped"}``, scored into ``stopping``). The harness may raise
    ``ContractError`` from it (a wrong output); the method lets that propagate.
    """

    def __call__(self, iteration: int, output: np.ndarray, stats: Mapping[str, float],
                 label: str | None = None) -> None: ...


#: labels an observer understands, and the result column each scores
LABELS = {"es-wmv": "es_psnr"}
#: labels of stopping rules' chosen iterates (issue 28; their stats: ``stop_iteration``, ``stopped``), scored into the
#: ``stopping`` column; ES-WMV's is both
STOP_LABELS = ("es-wmv", "es-emv", "welford", "holdout")


class Inpainter(Protocol):
    """Fills the holes of one image: ``method(image, mask, *, observe=None) -> (output, record)``.

    Shapes, ranges and mask polarity as in the module docstring. The inputs are the call's own read-only copies;
    a method copies what it wants to change (an in-place edit fails the call). No argument, attribute or return value
    carries the clean image or anything computed from its hole pixels: quality along a fit is measured by the
    harness, from the outputs the method shows to ``observe`` (an ``Observer``). A callable whose signature has no
    ``observe`` parameter (a method written for an older contract, or a one-shot method) is called with
    ``(image, mask)`` alone.

    Optional: ``check_size(height, width)`` raises ``UserError`` when the method cannot take an H x W image (a net
    too deep for it); the harness calls it for every image size of a suite before the first row runs.
    """

    def __call__(self, image: np.ndarray, mask: np.ndarray, *,
                 observe: Observer | None = None) -> tuple[np.ndarray, Mapping[str, Any]]: ...


def check_image_mask(image: Any, mask: Any, *, image_name: str = "image", mask_name: str = "mask") -> None:
    """Raise ``UserError`` naming what is wrong when ``image``/``mask`` break the boundary convention.

    ``image_name``/``mask_name`` (file paths, say) are used in the messages.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.float32:
        found = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise UserError(f"{image_name}: must be a float32 array H x W x C in [0, 1], got {found}; convert with "
                        "np.asarray(image, dtype=np.float32) (divide 8-bit data by 255)")
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise UserError(f"{image_name}: must be H x W x C with C = 1 (gray) or 3 (RGB), got shape {image.shape}; "
                        "add a channel axis with image[..., None] for gray")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise UserError(f"{image_name}: is empty (shape {image.shape})")
    if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
        raise UserError(f"{image_name}: values must be finite and in [0, 1]; divide 8-bit data by 255")
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
        found = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise UserError(f"{mask_name}: must be a bool array H x W (True = known), got {found}")
    if mask.shape != image.shape[:2]:
        (ih, iw), (mh, mw) = image.shape[:2], mask.shape
        raise UserError(f"{mask_name}: is {mw}x{mh} (WxH) but {image_name} is {iw}x{ih}; give the mask the image's "
                        "size (resize with nearest neighbour) or pick the matching mask")
    if not mask.any():
        raise UserError(f"{mask_name}: has no known pixel (True = known), so there is nothing to inpaint from; "
                        "invert it if it marks holes as True")


def read_toml(path: Path | str, where: str = "", what: str = "file") -> dict[str, Any]:
    """A TOML file as a dict; one ``UserError`` naming the file (after ``where``, e.g. ``--cluster-config``) when it
    is missing, unreadable (``cannot read the <what>``) or not TOML."""
    shown = f"{where} {path}" if where else f"{path}"
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{shown}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{shown}: not valid TOML ({str(error).splitlines()[0]})") from None
    except OSError as error:
        raise UserError(f"{shown}: cannot read the {what} ({error.strerror})") from None


def check_choices(values: Any, allowed: Any, what: str, where: str = "") -> None:
    """A ``UserError`` for the first of ``values`` not in ``allowed``: ``<where>: unknown <what> <value>; choose
    from <allowed>``."""
    for value in values:
        if value not in allowed:
            raise UserError(f"{where + ': ' if where else ''}unknown {what} {value!r}; choose from "
                            f"{', '.join(map(str, allowed))}")


def is_int(value: Any, minimum: int | None = None, maximum: int | None = None) -> bool:
    """Whether ``value`` is an integer (Python or NumPy; a bool is not) within ``minimum``..``maximum`` where given."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return False
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``, ``cuda`` or ``cuda:N``; anything else, or CUDA asked for
    where there is none, is a ``UserError``."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise UserError(f"--device {device!r}: choose auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: this torch has no CUDA device; use --device cpu or auto")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return resolved


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] H x W x C -> uint8 by rounding ``round(x * 255)``, clipped; C = 1 becomes H x W."""
    array = np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array


def composite(output: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Known pixels (mask True) from ``image`` bit for bit, holes from ``output`` clipped to [0, 1]; float32
    H x W x C."""
    filled = np.clip(np.asarray(output, dtype=np.float32).reshape(image.shape), 0.0, 1.0)
    return np.where(mask[..., None], image, filled).astype(np.float32)


def takes_observer(method: Any) -> bool:
    """Whether ``method``'s call signature has a parameter named ``observe``."""
    try:
        return "observe" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def check_array(output: Any, shape: tuple[int, ...], what: str = "output") -> np.ndarray:
    """``output`` as float32 in [0, 1], or ``ContractError``: it must be a float array of exactly ``shape``, finite,
    within [0, 1] up to ``RANGE_SLACK`` (values within the slack are clipped: float rounding, nothing else)."""
    if not isinstance(output, np.ndarray):
        raise ContractError(f"{what} is {type(output).__name__}, not a numpy array H x W x C")
    if output.shape != tuple(shape):
        raise ContractError(f"{what} has shape {output.shape}, expected {tuple(shape)} (the input image's)")
    if not np.issubdtype(output.dtype, np.floating):
        raise ContractError(f"{what} has dtype {output.dtype}; a method returns float32 in [0, 1] "
                            "(divide 8-bit data by 255)")
    if not np.isfinite(output).all():
        raise ContractError(f"{what} holds {int(np.size(output) - np.isfinite(output).sum())} NaN/inf values")
    low, high = float(output.min()), float(output.max())
    if low < -RANGE_SLACK or high > 1.0 + RANGE_SLACK:
        raise ContractError(f"{what} has values in [{low:.6g}, {high:.6g}], outside [0, 1] (an 8-bit scale? "
                            "divide by 255)")
    return np.clip(output, 0.0, 1.0).astype(np.float32)


def check_output(returned: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, dict[str, Any]]:
    """A method's return value checked (``ContractError`` naming what is wrong): a 2-tuple ``(output, record)``,
    ``output`` as ``check_array``, ``record`` a mapping with string keys whose ``iterations`` (when given) is an
    integer >= 0 and ``seconds`` (when given) a number. Returns (output float32 H x W x C, record as a dict)."""
    if not isinstance(returned, tuple) or len(returned) != 2:
        raise ContractError(f"the method returned {type(returned).__name__}"
                            f"{f' of length {len(returned)}' if isinstance(returned, tuple) else ''}, "
                            "not a tuple (output, record)")
    output, record = returned
    output = check_array(output, shape)
    if not isinstance(record, Mapping) or not all(isinstance(key, str) for key in record):
        raise ContractError(f"the record is {type(record).__name__}, not a mapping with string keys")
    iterations = record.get("iterations", 0)
    if not is_int(iterations, 0):
        raise ContractError(f"record iterations = {iterations!r} is not an integer >= 0")
    seconds = record.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds):
        raise ContractError(f"record seconds = {seconds!r} is not a number")
    return output, dict(record)


def private_copy(array: np.ndarray) -> np.ndarray:
    """A read-only copy that owns its data (one call's input)."""
    copy = np.array(array, copy=True)
    copy.flags.writeable = False
    return copy


def call_method(method: Any, image: np.ndarray, mask: np.ndarray,
                observe: Observer | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Call ``method`` on private read-only copies of ``image``/``mask`` (with ``observe``, behind a plain function,
    where its signature takes it) and check what it returns (``check_output``). A write into an input, or an input
    changed in place after forcing its write flag back on, is a ``ContractError``; nothing the method does reaches the
    caller's arrays. (A contract, not a sandbox: code in the same process could dig anything out by introspection.)"""
    image_in, mask_in = private_copy(image), private_copy(mask)
    try:
        if observe is not None and takes_observer(method):
            def shown(iteration: int, output: np.ndarray, stats: Mapping[str, float], label: str | None = None) -> None:
                observe(iteration, output, stats, label)

            returned = method(image_in, mask_in, observe=shown)
        else:
            returned = method(image_in, mask_in)
    except ValueError as error:
        if "read-only" in str(error):
            raise ContractError(f"the method wrote into its read-only input ({error}); copy an input before editing "
                                "it") from error
        raise
    if not (np.array_equal(image_in, image) and np.array_equal(mask_in, mask)):
        raise ContractError("the method changed its input image or mask in place; copy an input before editing it")
    return check_output(returned, image.shape)
