"""The fixed network input z of Deep Image Prior (official ``get_noise`` in utils/common_utils.py, re-written).

Every kind returns a float32 tensor of shape (1, C, H, W), drawn from an explicit ``torch.Generator`` on the CPU so
that the same seed gives the same z on every device.
"""
from __future__ import annotations

import torch

from dip_bench.contract import UserError

INPUT_KINDS = ("uniform", "normal", "bernoulli", "meshgrid")


def make_input(
    kind: str, channels: int, size: tuple[int, int], generator: torch.Generator, scale: float = 0.1
) -> torch.Tensor:
    """Build z of shape (1, channels, H, W).

    - ``uniform``: U(0, 1) * scale (official: scale 1/10);
    - ``normal``: N(0, 1) * scale;
    - ``bernoulli``: {0, 1} with p = 1/2, times scale;
    - ``meshgrid``: 2 channels [X, Y], each in [0, 1] along its axis (official region/vase input); ``scale`` unused.
    """
    h, w = size
    shape = (1, channels, h, w)
    if kind == "uniform":
        return torch.rand(shape, generator=generator) * scale
    if kind == "normal":
        return torch.randn(shape, generator=generator) * scale
    if kind == "bernoulli":
        return torch.bernoulli(torch.full(shape, 0.5), generator=generator) * scale
    if kind == "meshgrid":
        if channels != 2:
            raise UserError(f"meshgrid input has 2 channels, not {channels}: set input_channels = 2")
        ys = torch.linspace(0.0, 1.0, h).view(h, 1).expand(h, w)
        xs = torch.linspace(0.0, 1.0, w).view(1, w).expand(h, w)
        return torch.stack([xs, ys]).unsqueeze(0).contiguous()
    raise UserError(f"unknown input kind {kind!r}: choose one of {', '.join(INPUT_KINDS)}")
