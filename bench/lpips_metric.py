"""Optional LPIPS (Zhang et al. 2018) through the ``lpips`` package, AlexNet backbone.

Every LPIPS implementation downloads its backbone at run time, so LPIPS runs only when the ``lpips`` package imports
(it needs torchvision) and the AlexNet weights are already in the torch hub cache; otherwise it is reported as
skipped with the reason, and the ``lpips`` column stays empty.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


@cache
def unavailable_reason() -> str | None:
    """None when LPIPS can run offline, else why not."""
    try:
        import lpips  # noqa: F401
    except Exception as error:  # noqa: BLE001 - a broken torchvision raises all sorts of errors
        return f"the lpips package does not import ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
    weights = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
    if not weights.exists():
        return f"AlexNet weights not in the torch hub cache ({weights}); LPIPS would download them"
    return None


@cache
def _model() -> torch.nn.Module:
    import lpips

    return lpips.LPIPS(net="alex", verbose=False).eval()


@torch.no_grad()
def lpips_distance(reference: np.ndarray, test: np.ndarray) -> float:
    """LPIPS between two H x W x C images in [0, 1] (gray is replicated to 3 channels); lower is closer."""
    to_tensor = lambda a: torch.from_numpy(np.repeat(a, 3 // a.shape[2], axis=2).transpose(2, 0, 1).copy())[None]
    return float(_model()(to_tensor(reference.astype(np.float32)) * 2 - 1, to_tensor(test.astype(np.float32)) * 2 - 1))
