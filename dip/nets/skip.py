"""The official Deep Image Prior ``skip`` encoder-decoder, re-written.

Ulyanov, Vedaldi, Lempitsky, "Deep Image Prior", CVPR 2018. Original: https://github.com/DmitryUlyanov/deep-image-prior
(``models/skip.py``, ``models/common.py``, Apache-2.0). Same arguments, defaults and layer order; the module tree is
nested the same way, so the state-dict keys match the original's and, under one ``torch.manual_seed``, PyTorch's
default init draws the same initial weights (parameters are created in the same order).

Per scale i, on the level's input:

    skip branch     conv(k_skip) -> BN -> act                               (absent when skip[i] == 0)
    deeper branch   conv(k_down[i], stride 2) -> BN -> act -> conv(k_down[i]) -> BN -> act
                    -> [scale i + 1] -> Upsample x2
    then            concat(skip, deeper) -> BN -> conv(k_up[i]) -> BN -> act [-> conv 1x1 -> BN -> act]

and a final conv 1x1 -> Sigmoid. BatchNorm is meant to stay in train mode (the DIP protocol), so every feature map
must hold at least two values per channel for a batch of one; ``min_size`` accounts for that.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn

from dip_bench.contract import UserError, check_choices

UPSAMPLE_MODES = ("nearest", "bilinear", "bicubic")
DOWNSAMPLE_MODES = ("stride", "avg", "max")
PADS = ("zero", "reflection")

_T = TypeVar("_T")


class Concat(nn.Module):
    """Runs every branch on the same input and concatenates the results along channels.

    Branch outputs of different H or W are centre-cropped to the smallest H and W first (as the original does).
    """

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        for index, branch in enumerate(branches):
            self.add_module(str(index), branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.children()]
        height = min(out.shape[2] for out in outputs)
        width = min(out.shape[3] for out in outputs)
        cropped = []
        for out in outputs:
            top, left = (out.shape[2] - height) // 2, (out.shape[3] - width) // 2
            cropped.append(out[:, :, top:top + height, left:left + width])
        return torch.cat(cropped, dim=1)


def activation(act_fun: str | Callable[[], nn.Module]) -> nn.Module:
    """``'LeakyReLU'`` (slope 0.2), ``'ELU'``, ``'Swish'`` (SiLU), ``'none'``, or a module class / factory."""
    if not isinstance(act_fun, str):
        return act_fun()
    if act_fun == "LeakyReLU":
        return nn.LeakyReLU(0.2, inplace=True)
    if act_fun == "ELU":
        return nn.ELU()
    if act_fun == "Swish":
        return nn.SiLU()
    if act_fun == "none":
        return nn.Sequential()
    raise UserError(f"unknown act_fun {act_fun!r}: use 'LeakyReLU', 'ELU', 'Swish', 'none' or a module class")


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    bias: bool = True,
    pad: str = "zero",
    downsample_mode: str = "stride",
) -> nn.Sequential:
    """[ReflectionPad] -> Conv2d -> [2x2 pool]: 'same' padding (k - 1) / 2, zero or reflected.

    A stride-2 conv with ``downsample_mode`` 'avg' or 'max' becomes a stride-1 conv followed by that pooling.
    """
    to_pad = (kernel_size - 1) // 2
    layers: list[nn.Module] = []
    if pad == "reflection":
        layers.append(nn.ReflectionPad2d(to_pad))
        to_pad = 0
    pool: nn.Module | None = None
    if stride != 1 and downsample_mode != "stride":
        pool = nn.AvgPool2d(stride, stride) if downsample_mode == "avg" else nn.MaxPool2d(stride, stride)
        stride = 1
    layers.append(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=to_pad, bias=bias))
    if pool is not None:
        layers.append(pool)
    return nn.Sequential(*layers)


def _append(sequence: nn.Sequential, *modules: nn.Module) -> None:
    """Adds modules under the keys "1", "2", ... (the original's naming, kept so state-dict keys match)."""
    for module in modules:
        sequence.add_module(str(len(sequence) + 1), module)


def _per_scale(value: _T | Sequence[_T], n_scales: int, name: str) -> list[_T]:
    """One value per scale: a scalar is repeated; a list or tuple must have one entry per scale."""
    if not isinstance(value, (list, tuple)):
        return [value] * n_scales
    if len(value) != n_scales:
        raise UserError(f"{name} has {len(value)} entries but the net has {n_scales} scales: give one per scale")
    return list(value)


def _min_deepest_size(
    pad: str, filter_size_down: list[int], filter_size_up: list[int], filter_skip_size: int, skips: Sequence[int]
) -> int:
    """Smallest H (or W) of the deepest feature map for which a batch-of-one forward in train mode works.

    BatchNorm needs 2 values per channel; ``ReflectionPad2d(p)`` needs a map larger than p. At scale i (of n) the
    level's input is ``2**(n - i)`` times the deepest map and its down-sampled map ``2**(n - i - 1)`` times.
    """
    if pad != "reflection":
        return 2
    n_scales = len(filter_size_down)
    needed = [2]
    for i in range(n_scales):
        pad_down, pad_up = (filter_size_down[i] - 1) // 2, (filter_size_up[i] - 1) // 2
        pad_skip = (filter_skip_size - 1) // 2 if skips[i] else 0
        # p < size  <=>  deepest * scale >= p + 1
        needed.append(-(-(max(pad_down, pad_up, pad_skip) + 1) // 2 ** (n_scales - i)))
        needed.append(-(-(pad_down + 1) // 2 ** (n_scales - i - 1)))
    return max(needed)


def skip(
    num_input_channels: int = 2,
    num_output_channels: int = 3,
    num_channels_down: Sequence[int] = (16, 32, 64, 128, 128),
    num_channels_up: Sequence[int] = (16, 32, 64, 128, 128),
    num_channels_skip: Sequence[int] = (4, 4, 4, 4, 4),
    filter_size_down: int | Sequence[int] = 3,
    filter_size_up: int | Sequence[int] = 3,
    filter_skip_size: int = 1,
    need_sigmoid: bool = True,
    need_bias: bool = True,
    pad: str = "zero",
    upsample_mode: str | Sequence[str] = "nearest",
    downsample_mode: str | Sequence[str] = "stride",
    act_fun: str | Callable[[], nn.Module] = "LeakyReLU",
    need1x1_up: bool = True,
) -> nn.Sequential:
    """The official DIP encoder-decoder with skip connections (see the module docstring for the layout).

    Maps (B, ``num_input_channels``, H, W) to (B, ``num_output_channels``, H, W), in [0, 1] with ``need_sigmoid``.
    ``num_channels_down/up/skip`` give one entry per scale (skip 0 = no skip branch at that scale);
    ``filter_size_down/up``, ``upsample_mode`` ('nearest' | 'bilinear' | 'bicubic', align_corners=False) and
    ``downsample_mode`` ('stride' | 'avg' | 'max') may be one value or one per scale; kernel sizes must be odd.
    ``pad`` is 'zero' or 'reflection'. The returned module carries ``size_multiple`` (H and W must be multiples of
    it: 2 ** scales) and ``min_size`` (smallest H and W for a batch-of-one forward with BatchNorm in train mode).
    """
    n_scales = len(num_channels_down)
    if not n_scales or len(num_channels_up) != n_scales or len(num_channels_skip) != n_scales:
        raise UserError(
            f"num_channels_down/up/skip have {n_scales}/{len(num_channels_up)}/{len(num_channels_skip)} entries: "
            "give the same non-zero number (one per scale) to all three"
        )
    if pad not in PADS:
        raise UserError(f"unknown pad {pad!r}: use one of {', '.join(PADS)}")
    upsample_modes = _per_scale(upsample_mode, n_scales, "upsample_mode")
    downsample_modes = _per_scale(downsample_mode, n_scales, "downsample_mode")
    sizes_down = _per_scale(filter_size_down, n_scales, "filter_size_down")
    sizes_up = _per_scale(filter_size_up, n_scales, "filter_size_up")
    check_choices(upsample_modes, UPSAMPLE_MODES, "upsample_mode")
    check_choices(downsample_modes, DOWNSAMPLE_MODES, "downsample_mode")
    for size in [*sizes_down, *sizes_up, filter_skip_size]:
        if size < 1 or size % 2 == 0:
            raise UserError(f"filter size {size} is not odd and positive: use 1, 3, 5, ... so H and W are kept")

    model = nn.Sequential()
    level = model
    input_depth = num_input_channels
    for i in range(n_scales):
        deepest = i == n_scales - 1
        deeper, skip_branch = nn.Sequential(), nn.Sequential()
        _append(level, Concat(skip_branch, deeper) if num_channels_skip[i] else deeper)
        below = num_channels_down[i] if deepest else num_channels_up[i + 1]
        _append(level, nn.BatchNorm2d(num_channels_skip[i] + below))

        if num_channels_skip[i]:
            _append(
                skip_branch,
                conv(input_depth, num_channels_skip[i], filter_skip_size, bias=need_bias, pad=pad),
                nn.BatchNorm2d(num_channels_skip[i]),
                activation(act_fun),
            )
        _append(
            deeper,
            conv(input_depth, num_channels_down[i], sizes_down[i], stride=2, bias=need_bias, pad=pad,
                 downsample_mode=downsample_modes[i]),
            nn.BatchNorm2d(num_channels_down[i]),
            activation(act_fun),
            conv(num_channels_down[i], num_channels_down[i], sizes_down[i], bias=need_bias, pad=pad),
            nn.BatchNorm2d(num_channels_down[i]),
            activation(act_fun),
        )
        next_level = nn.Sequential()
        if not deepest:
            _append(deeper, next_level)
        mode = upsample_modes[i]
        _append(deeper, nn.Upsample(scale_factor=2, mode=mode, align_corners=None if mode == "nearest" else False))

        _append(
            level,
            conv(num_channels_skip[i] + below, num_channels_up[i], sizes_up[i], bias=need_bias, pad=pad),
            nn.BatchNorm2d(num_channels_up[i]),
            activation(act_fun),
        )
        if need1x1_up:
            _append(
                level,
                conv(num_channels_up[i], num_channels_up[i], 1, bias=need_bias, pad=pad),
                nn.BatchNorm2d(num_channels_up[i]),
                activation(act_fun),
            )
        input_depth = num_channels_down[i]
        level = next_level

    _append(model, conv(num_channels_up[0], num_output_channels, 1, bias=need_bias, pad=pad))
    if need_sigmoid:
        _append(model, nn.Sigmoid())

    model.size_multiple = 2**n_scales
    model.min_size = 2**n_scales * _min_deepest_size(pad, sizes_down, sizes_up, filter_skip_size, num_channels_skip)
    return model
