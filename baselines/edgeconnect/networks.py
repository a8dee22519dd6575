"""EdgeConnect's two generators, laid out so that the official checkpoints load with ``strict=True``.

K. Nazeri, E. Ng, T. Joseph, F. Z. Qureshi, M. Ebrahimi, "EdgeConnect: Generative Image Inpainting with Adversarial
Edge Learning", ICCV Workshops 2019. Original code: https://github.com/knazeri/edge-connect (src/networks.py,
CC BY-NC 4.0); this is our own code written from the architecture described there.

Both generators: encoder (reflect-pad 3, conv 7x7 -> 64, two stride-2 convs 4x4 to 128 and 256), eight residual
blocks with dilation 2 at 1/4 resolution, decoder (two stride-2 transposed convs 4x4, reflect-pad 3, conv 7x7).
Every norm is ``InstanceNorm2d(affine=False, track_running_stats=False)`` (no state-dict entries). The Sequential
indices below are the official ones, because the state-dict keys are built from them.

- ``EdgeGenerator``: (B, 3, H, W) = [masked gray, masked edges, hole mask] -> (B, 1, H, W) edge map in (0, 1)
  (sigmoid). Legacy ``torch.nn.utils.spectral_norm`` on every conv except the last (keys ``weight_orig``,
  ``weight_u``, ``weight_v``); residual convs without bias. 70 state-dict keys, 10,761,089 parameters.
- ``InpaintGenerator``: (B, 4, H, W) = [masked RGB, edge map] -> (B, 3, H, W) RGB in [0, 1] ((tanh + 1) / 2).
  No spectral norm, biases everywhere. 44 state-dict keys, 10,774,595 parameters.
H and W must be multiples of 4 (the pipeline pads). Legacy spectral norm runs a power iteration on every forward in
train mode, changing ``weight_u``/``weight_v``: use these modules in ``eval()`` only.
"""
from __future__ import annotations

import torch
from torch import nn

from dip_bench.contract import UserError


def _maybe_spectral(module: nn.Module, spectral: bool) -> nn.Module:
    return nn.utils.spectral_norm(module) if spectral else module


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [pad(d), conv3x3 dilation d, IN, ReLU, pad(1), conv3x3, IN](x); no activation after the sum."""

    def __init__(self, channels: int, dilation: int, spectral: bool) -> None:
        super().__init__()
        bias = not spectral
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            _maybe_spectral(nn.Conv2d(channels, channels, 3, dilation=dilation, bias=bias), spectral),
            _norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            _maybe_spectral(nn.Conv2d(channels, channels, 3, bias=bias), spectral),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _unit(conv: nn.Module, channels: int, spectral: bool) -> tuple[nn.Module, ...]:
    """conv (spectral-normalised when asked) -> instance norm -> ReLU: three consecutive ``nn.Sequential`` slots, so
    the official checkpoint's layer indices (``encoder.1``, ``encoder.4``, ...) stay as they are."""
    return _maybe_spectral(conv, spectral), _norm(channels), nn.ReLU(inplace=True)


class _Generator(nn.Module):
    """The layout shared by both generators; ``forward`` returns the raw (pre-activation) output."""

    def __init__(self, in_channels: int, out_channels: int, spectral: bool, blocks: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            *_unit(nn.Conv2d(in_channels, 64, 7), 64, spectral),
            *_unit(nn.Conv2d(64, 128, 4, stride=2, padding=1), 128, spectral),
            *_unit(nn.Conv2d(128, 256, 4, stride=2, padding=1), 256, spectral),
        )
        self.middle = nn.Sequential(*[ResnetBlock(256, 2, spectral) for _ in range(blocks)])
        self.decoder = nn.Sequential(
            *_unit(nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1), 128, spectral),
            *_unit(nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), 64, spectral),
            nn.ReflectionPad2d(3),
            nn.Conv2d(64, out_channels, 7),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise UserError(f"input height and width must be multiples of 4, got {tuple(x.shape[-2:])}")
        return self.decoder(self.middle(self.encoder(x)))


class EdgeGenerator(_Generator):
    """(B, 3, H, W) [gray*(1-m)+m, edges*(1-m), m] -> (B, 1, H, W) edge probability; m = 1 on holes."""

    def __init__(self) -> None:
        super().__init__(3, 1, spectral=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(super().forward(x))


class InpaintGenerator(_Generator):
    """(B, 4, H, W) [rgb*(1-m)+m, edges] -> (B, 3, H, W) RGB in [0, 1]; m = 1 on holes."""

    def __init__(self) -> None:
        super().__init__(4, 3, spectral=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(super().forward(x)) + 1.0) / 2.0
