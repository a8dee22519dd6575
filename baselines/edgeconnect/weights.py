"""Loading the official EdgeConnect generator checkpoints (https://github.com/knazeri/edge-connect, CC BY-NC 4.0).

A weights folder holds ``EdgeModel_gen.pth`` and ``InpaintingModel_gen.pth``, each a ``torch.save``d dict
``{'iteration': int, 'generator': state_dict}`` (the released files use PyTorch 1.0's serialisation, which
``torch.load(weights_only=True)`` reads). The modules are built on the ``meta`` device (no random initialisation)
and filled from the file with ``strict=True``, so a model never runs with weights that did not come from the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from dip_bench.baselines.edgeconnect.networks import EdgeGenerator, InpaintGenerator
from dip_bench.contract import UserError

EDGE_FILE = "EdgeModel_gen.pth"
INPAINT_FILE = "InpaintingModel_gen.pth"
WEIGHT_FILES = (EDGE_FILE, INPAINT_FILE)


def missing_files(folder: str | Path) -> list[str]:
    """The official file names that ``folder`` lacks (all of them when it is not a folder)."""
    folder = Path(folder)
    return [name for name in WEIGHT_FILES if not (folder / name).is_file()]


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], int]:
    """(generator state dict with any ``module.`` prefix stripped, training iteration) from one official file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"EdgeConnect weights file {path} not found")
    try:
        checkpoint: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for unreadable or unsafe files
        raise UserError(f"cannot read EdgeConnect weights {path}: {str(error).splitlines()[0]}") from error
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("generator"), dict):
        raise UserError(f"{path} is not an EdgeConnect generator checkpoint (expected a dict with a 'generator' "
                         "state dict): use the official *_gen.pth files")
    state = {key.removeprefix("module."): value for key, value in checkpoint["generator"].items()}
    return state, int(checkpoint.get("iteration", 0))


def load_generator(net: nn.Module, path: str | Path) -> int:
    """Fill ``net`` (possibly on the meta device) from the file at ``path`` with ``strict=True``; set eval mode.

    Returns the checkpoint's training iteration. A key mismatch is a ValueError naming the file and the first
    missing and unexpected keys.
    """
    state, iteration = read_checkpoint(path)
    expected = net.state_dict().keys()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        raise UserError(f"{path} does not fit {type(net).__name__} ({'; '.join(parts)}): "
                         f"is it the official {Path(path).name}?")
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        detail = " ".join(str(error).split())
        raise UserError(f"{path} does not fit {type(net).__name__}: {detail}") from error
    return iteration


def load_edgeconnect(folder: str | Path, device: torch.device) -> tuple[EdgeGenerator, InpaintGenerator, dict[str, int]]:
    """Both generators from ``folder``, in eval mode on ``device``, plus their training iterations."""
    folder = Path(folder)
    with torch.device("meta"):
        edge, inpaint = EdgeGenerator(), InpaintGenerator()
    iterations = {"edge_iteration": load_generator(edge, folder / EDGE_FILE),
                  "inpaint_iteration": load_generator(inpaint, folder / INPAINT_FILE)}
    return edge.float().to(device).eval(), inpaint.float().to(device).eval(), iterations
