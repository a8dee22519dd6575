"""The encoder-decoders of GerardTho/Deep_image_prior_inpainting, re-written (plain, skip and residual variants).

A school project re-implementing Deep Image Prior (Ulyanov et al., CVPR 2018) for inpainting; original code:
https://github.com/GerardTho/Deep_image_prior_inpainting (``model/Blocks.py``, ``model/EncoderDecoder*.py``; no
licence file, so this is our own code following the described structure). Zero padding (k - 1) / 2, LeakyReLU(0.01),
bias in every conv. Blocks (deepest-first up blocks use the down channels reversed):

    down  conv(k_down, stride 2) -> BN -> act -> conv(k_down) -> BN -> act
    up    BN -> conv(k_up, c_in -> c_in) -> BN -> act -> conv 1x1 (c_in -> c_out) -> BN -> act -> Upsample x2
    skip  conv 1x1 -> BN -> act

``plain``: downs then ups. ``skip``: a skip block on each down block's *input*, concatenated after the up block that
restores that resolution. ``res``: each down block's output is *added* to the matching up block's output (whose own
upsampling is dropped), then upsampled. Output: conv 1x1 -> Sigmoid. Modules are created in the original's order
(downs, skips, ups, output conv), so a seeded default init draws the same weights.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dip_bench.contract import UserError

VARIANTS = ("plain", "skip", "res")
UPSAMPLE_MODES = ("nearest", "bilinear", "bicubic")


def _conv_bn_act(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=(kernel_size - 1) // 2),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.01),
    ]


def _upsample(mode: str) -> nn.Upsample:
    return nn.Upsample(scale_factor=2, mode=mode, align_corners=None if mode == "nearest" else False)


class EncoderDecoder(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H, W) in [0, 1]; see the module docstring and :func:`encdec`.

    ``size_multiple``: H and W must be multiples of 2 ** depth. ``min_size``: 2 ** (depth + 1), since BatchNorm in
    train mode needs the deepest map to hold 2 values per channel for a batch of one.
    """

    def __init__(
        self,
        num_input_channels: int,
        num_output_channels: int,
        variant: str,
        channels_down: Sequence[int],
        kernel_down: int,
        kernel_up: int,
        skip_channels: int,
        upsample_mode: str,
    ) -> None:
        super().__init__()
        self.variant = variant
        channels_up = list(reversed(channels_down))
        inputs_down = [num_input_channels, *channels_down[:-1]]
        self.downs = nn.ModuleList(
            nn.Sequential(*_conv_bn_act(c_in, c_out, kernel_down, stride=2), *_conv_bn_act(c_out, c_out, kernel_down))
            for c_in, c_out in zip(inputs_down, channels_down)
        )
        self.skips = nn.ModuleList(
            nn.Sequential(*_conv_bn_act(c_in, skip_channels, 1)) for c_in in inputs_down
        ) if variant == "skip" else None
        extra = skip_channels if variant == "skip" else 0
        inputs_up = [channels_down[-1], *(c + extra for c in channels_up[:-1])]
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm2d(c_in),
                *_conv_bn_act(c_in, c_in, kernel_up),
                *_conv_bn_act(c_in, c_out, 1),
                *([] if variant == "res" else [_upsample(upsample_mode)]),
            )
            for c_in, c_out in zip(inputs_up, channels_up)
        )
        self.upsample = _upsample(upsample_mode) if variant == "res" else None
        self.head = nn.Sequential(nn.Conv2d(channels_up[-1] + extra, num_output_channels, 1), nn.Sigmoid())
        self.size_multiple = 2 ** len(channels_down)
        self.min_size = 2 * self.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.variant == "plain":
            for block in [*self.downs, *self.ups]:
                x = block(x)
        elif self.variant == "skip":
            skipped = []
            for down, skip_block in zip(self.downs, self.skips):
                skipped.append(skip_block(x))
                x = down(x)
            for up, side in zip(self.ups, reversed(skipped)):
                x = torch.cat([up(x), side], dim=1)
        else:
            features = []
            for down in self.downs:
                x = down(x)
                features.append(x)
            for up, feature in zip(self.ups, reversed(features)):
                x = self.upsample(up(x) + feature)
        return self.head(x)


def encdec(
    num_input_channels: int = 32,
    num_output_channels: int = 3,
    variant: str = "plain",
    channels_down: Sequence[int] = (16, 32, 64, 128, 128, 128),
    kernel_down: int = 5,
    kernel_up: int = 3,
    skip_channels: int = 4,
    upsample_mode: str = "nearest",
) -> EncoderDecoder:
    """The GerardTho encoder-decoder: ``variant`` 'plain' | 'skip' | 'res' (see the module docstring).

    ``channels_down`` gives the down blocks' widths, shallowest first (the up blocks use them reversed);
    ``skip_channels`` is used by the 'skip' variant only. Kernel sizes must be odd; ``upsample_mode`` 'nearest' |
    'bilinear' | 'bicubic' (align_corners=False). The defaults are the original notebook's; the default 6-level net
    needs ``min_size`` 128 px (H and W multiples of ``size_multiple`` 64).
    """
    if variant not in VARIANTS:
        raise UserError(f"unknown encdec variant {variant!r}: use one of {', '.join(VARIANTS)}")
    if not channels_down:
        raise UserError("channels_down is empty: give one width per level, e.g. (16, 32, 64, 128, 128, 128)")
    for kernel in (kernel_down, kernel_up):
        if kernel < 1 or kernel % 2 == 0:
            raise UserError(f"kernel size {kernel} is not odd and positive: use 1, 3, 5, ... so H and W are kept")
    if variant == "skip" and skip_channels < 1:
        raise UserError(f"skip_channels is {skip_channels}: the 'skip' variant needs at least 1 (or use 'plain')")
    if upsample_mode not in UPSAMPLE_MODES:
        raise UserError(f"unknown upsample_mode {upsample_mode!r}: use one of {', '.join(UPSAMPLE_MODES)}")
    return EncoderDecoder(
        num_input_channels, num_output_channels, variant, channels_down, kernel_down, kernel_up, skip_channels,
        upsample_mode,
    )
