"""EdgeConnect (Nazeri et al., "EdgeConnect: Generative Image Inpainting with Adversarial Edge Learning",
ICCV Workshops 2019) with the user's copy of the official weights.

Original code and checkpoints: https://github.com/knazeri/edge-connect (CC BY-NC 4.0, research use only); the
networks and pipeline here are our own code following its test mode (MODEL 3). Weights are never bundled and never
random: ``make`` needs a folder with ``EdgeModel_gen.pth`` and ``InpaintingModel_gen.pth``, given as ``weights`` or
in the environment variable ``DIP_BENCH_EDGECONNECT_WEIGHTS``. See baselines/README.md for where to get them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dip_bench.contract import UserError, resolve_device
from dip_bench.baselines._oneshot import OneShot
from dip_bench.baselines.edgeconnect.networks import EdgeGenerator, InpaintGenerator
from dip_bench.baselines.edgeconnect.pipeline import edgeconnect_inpaint
from dip_bench.baselines.edgeconnect.weights import WEIGHT_FILES, load_edgeconnect, missing_files

ENV_VAR = "DIP_BENCH_EDGECONNECT_WEIGHTS"
NO_WEIGHTS = "no EdgeConnect weights (see README for where to get them)"
VARIANTS = ("places2", "celeba", "psv")
#: folder-name fragments that identify the dataset a checkpoint was trained on
_VARIANT_HINTS = (("places", "places2"), ("celeba", "celeba"), ("psv", "psv"), ("paris", "psv"))


def _weights_folder(weights: str | os.PathLike[str] | None) -> Path | None:
    """``weights``, else $DIP_BENCH_EDGECONNECT_WEIGHTS, else None."""
    chosen = weights if weights is not None else os.environ.get(ENV_VAR) or None
    return None if chosen is None else Path(str(chosen)).expanduser()


def _folder_problem(folder: Path | None) -> str | None:
    if folder is None:
        return NO_WEIGHTS
    if not folder.is_dir():
        return f"EdgeConnect weights folder {folder} does not exist (it must hold {' and '.join(WEIGHT_FILES)})"
    missing = missing_files(folder)
    if missing:
        return f"EdgeConnect weights folder {folder} lacks {' and '.join(missing)} (see baselines/README.md)"
    return None


def _variant(folder: Path, variant: str | None) -> str:
    """The training set of the weights: ``variant`` when given, else guessed from the folder name."""
    if variant is not None:
        if variant not in VARIANTS:
            raise UserError(f"EdgeConnect variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        return variant
    name = folder.resolve().name.lower()
    return next((value for hint, value in _VARIANT_HINTS if hint in name), "unknown")



def unavailable_reason(*, weights: str | None = None, variant: str | None = None, merge_edges: bool = False,
                       sigma: float = 2.0) -> str | None:
    """None when a weights folder with both official files is given (``weights`` or $DIP_BENCH_EDGECONNECT_WEIGHTS),
    else why not. The files' contents are checked only by ``make``."""
    return _folder_problem(_weights_folder(weights))


@dataclass(frozen=True)
class EdgeConnectInpainter(OneShot):
    """Both generators (eval mode) behind the common call shape; ``info`` goes into every record."""

    edge_net: EdgeGenerator = field(repr=False)
    inpaint_net: InpaintGenerator = field(repr=False)
    device: torch.device
    sigma: float
    merge_edges: bool
    info: dict[str, Any]

    def fill(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return edgeconnect_inpaint(self.edge_net, self.inpaint_net, image, mask, sigma=self.sigma,
                                   merge_edges=self.merge_edges)

    def settings(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "merge_edges": self.merge_edges, **self.info}

    def run_device(self) -> torch.device:
        return self.device


def make(*, seed: int = 0, device: str = "cpu", weights: str | None = None, variant: str | None = None,
         merge_edges: bool = False, sigma: float = 2.0) -> EdgeConnectInpainter:
    """EdgeConnect (Nazeri et al. 2019) from the official weights folder ``weights`` (or $DIP_BENCH_EDGECONNECT_WEIGHTS).

    ``variant`` (places2 | celeba | psv) is recorded, guessed from the folder name when not given; ``merge_edges``
    feeds the inpaint net the paper's merged edges instead of the official test mode's raw prediction; ``sigma`` is
    Canny's (the official test configuration uses 2). Inference is deterministic, so ``seed`` is unused.
    """
    folder = _weights_folder(weights)
    problem = _folder_problem(folder)
    if problem is not None:
        raise UserError(problem)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise UserError(f"sigma (Canny's Gaussian, pixels) must be a positive number, got {sigma!r}")
    if not isinstance(merge_edges, bool):
        raise UserError(f"merge_edges must be true or false, got {merge_edges!r}")
    resolved = resolve_device(device)
    info = {"weights": str(folder), "variant": _variant(folder, variant)}
    edge_net, inpaint_net, iterations = load_edgeconnect(folder, resolved)
    return EdgeConnectInpainter(edge_net, inpaint_net, resolved, float(sigma), merge_edges,
                                {**info, **iterations})
