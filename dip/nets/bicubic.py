"""The DL59/ImPrior Deep Image Prior net (bicubic upsampling), re-written.

A student re-implementation of Deep Image Prior (Ulyanov et al., CVPR 2018); original code:
https://github.com/DL59/ImPrior (``Notebooks/Impainting.ipynb``; README for the bicubic upsampling). ``depth``
levels of ``channels`` channels, reflection padding 1, 3x3 kernels, LeakyReLU(0.01):

    down  pad -> conv 3x3 stride 2 -> BN -> act -> pad -> conv 3x3 -> BN -> act
    skip  conv 1x1 (channels -> skip_channels) -> BN -> act, on each down block's *output*
    up    BN -> pad -> conv 3x3 -> BN -> act -> conv 1x1 -> BN -> act -> Upsample x2

The deepest up block takes only the deepest skip output; every other up block takes the block below's output
concatenated with the skip output of its level. Output: conv 1x1 -> Sigmoid. Modules are created in the original's
order (downs, skips, ups deepest first, output conv), so a seeded default init draws the same weights.
"""
from __future__ import annotations

import torch
from torch import nn

from dip_bench.contract import UserError

UPSAMPLE_MODES = ("nearest", "bilinear", "bicubic")


def _pad_conv_bn_act(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.ReflectionPad2d((kernel_size - 1) // 2),
        nn.Conv2d(in_channels, out_channels, kernel_size, stride),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.01),
    ]


class BicubicNet(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H, W) in [0, 1]; see the module docstring and :func:`bicubic_net`.

    ``size_multiple``: H and W must be multiples of 2 ** depth. ``min_size``: 2 ** (depth + 1), since the deepest
    map must hold 2 values per channel (BatchNorm in train mode, batch of one) and be larger than the padding 1.
    """

    def __init__(
        self,
        num_input_channels: int,
        num_output_channels: int,
        depth: int,
        channels: int,
        skip_channels: int,
        upsample_mode: str,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.downs = nn.ModuleList(
            nn.Sequential(
                *_pad_conv_bn_act(num_input_channels if level == 0 else channels, channels, 3, stride=2),
                *_pad_conv_bn_act(channels, channels, 3),
            )
            for level in range(depth)
        )
        self.skips = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, skip_channels, 1), nn.BatchNorm2d(skip_channels), nn.LeakyReLU(0.01))
            for _ in range(depth)
        )
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm2d(in_channels),
                *_pad_conv_bn_act(in_channels, channels, 3),
                nn.Conv2d(channels, channels, 1),
                nn.BatchNorm2d(channels),
                nn.LeakyReLU(0.01),
                nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=None if upsample_mode == "nearest"
                            else align_corners),
            )
            for in_channels in [skip_channels] + [skip_channels + channels] * (depth - 1)
        )
        self.head = nn.Sequential(nn.Conv2d(channels, num_output_channels, 1), nn.Sigmoid())
        self.size_multiple = 2**depth
        self.min_size = 2 * self.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skipped = []
        for down, skip_block in zip(self.downs, self.skips):
            x = down(x)
            skipped.append(skip_block(x))
        x = self.ups[0](skipped[-1])
        for up, side in zip(self.ups[1:], reversed(skipped[:-1])):
            x = up(torch.cat([x, side], dim=1))
        return self.head(x)


def bicubic_net(
    num_input_channels: int = 32,
    num_output_channels: int = 3,
    depth: int = 5,
    channels: int = 128,
    skip_channels: int = 4,
    upsample_mode: str = "bicubic",
    align_corners: bool = False,
) -> BicubicNet:
    """The DL59/ImPrior net (see the module docstring); the defaults are the original's (2,070,503 parameters).

    ``upsample_mode`` 'nearest' | 'bilinear' | 'bicubic' with ``align_corners`` (False as in ImPrior's README;
    its notebook uses bilinear with True; ignored for nearest). Needs ``depth`` >= 1 and
    ``skip_channels`` >= 1 (the deepest up block sees only the skip branch).
    """
    if depth < 1:
        raise UserError(f"depth is {depth}: the bicubic net needs at least 1 level")
    if skip_channels < 1:
        raise UserError(f"skip_channels is {skip_channels}: the bicubic net needs at least 1 (its deepest up block "
                         "sees only the skip branch)")
    if upsample_mode not in UPSAMPLE_MODES:
        raise UserError(f"unknown upsample_mode {upsample_mode!r}: use one of {', '.join(UPSAMPLE_MODES)}")
    return BicubicNet(num_input_channels, num_output_channels, depth, channels, skip_channels, upsample_mode,
                      align_corners)
