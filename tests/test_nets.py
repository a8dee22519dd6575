"""dip_bench.dip.nets: parameter counts of the originals, layer order, shapes and range, determinism, size limits, errors."""
from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from dip_bench.dip.nets import NETS, bicubic_net, count_parameters, encdec, skip
from dip_bench.dip.nets.skip import Concat

# the official notebooks' skip() configs (DmitryUlyanov/deep-image-prior inpainting/restoration notebooks)
TEXT = dict(num_channels_down=[128] * 5, num_channels_up=[128] * 5, num_channels_skip=[128] * 5, pad="reflection")
VASE = dict(num_channels_down=[128] * 5, num_channels_up=[128] * 5, num_channels_skip=[0] * 5, pad="reflection")
LIBRARY = dict(
    num_channels_down=[16, 32, 64, 128, 128, 128], num_channels_up=[16, 32, 64, 128, 128, 128],
    num_channels_skip=[0] * 6, filter_size_down=5, filter_size_up=3, need1x1_up=False, pad="reflection",
)
BARBARA = dict(
    num_channels_down=[128] * 5, num_channels_up=[128] * 5, num_channels_skip=[4] * 5, upsample_mode="bilinear",
    pad="reflection",
)
#: a config per registered net that runs at 64 px (the default encdec has 6 levels and needs 128 px)
SMALL: dict[str, dict[str, Any]] = {
    "skip": {},
    "encdec": dict(channels_down=(16, 32, 64, 128, 128)),
    "encdec-skip": dict(channels_down=(16, 32, 64, 128, 128)),
    "encdec-res": dict(channels_down=(16, 32, 64, 128, 128)),
    "bicubic": {},
}


def _input(channels: int, height: int, width: int) -> torch.Tensor:
    return torch.rand(1, channels, height, width, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: skip(32, 3, **TEXT), 3_002_627),
        (lambda: skip(2, 3, **VASE), 2_157_955),
        (lambda: skip(1, 3, **LIBRARY), 2_996_467),
        (lambda: skip(32, 1, **BARBARA), 2_217_573),
        (lambda: encdec(32, 3, "plain"), 3_167_363),
        (lambda: encdec(32, 3, "skip"), 3_205_899),
        (lambda: encdec(32, 3, "res"), 3_167_363),
        (lambda: bicubic_net(32, 3), 2_070_503),
    ],
    ids=["skip-text", "skip-vase", "skip-library", "skip-barbara", "encdec", "encdec-skip", "encdec-res", "bicubic"],
)
def test_parameter_counts_match_the_originals(build, expected):
    assert count_parameters(build()) == expected


def test_registry_names_and_small_configs_cover_it():
    assert set(NETS) == {"skip", "encdec", "encdec-skip", "encdec-res", "bicubic"}
    assert set(SMALL) == set(NETS)
    assert count_parameters(nn.Linear(2, 3)) == 9


def test_skip_layer_order_and_keys_follow_the_official_builder():
    net = skip(2, 3, num_channels_down=[8], num_channels_up=[8], num_channels_skip=[4])
    leaves = [(name, type(module).__name__) for name, module in net.named_modules() if not list(module.children())]
    assert leaves == [
        ("1.0.1.0", "Conv2d"), ("1.0.2", "BatchNorm2d"), ("1.0.3", "LeakyReLU"),  # skip branch
        ("1.1.1.0", "Conv2d"), ("1.1.2", "BatchNorm2d"), ("1.1.3", "LeakyReLU"),  # deeper: stride-2 conv
        ("1.1.4.0", "Conv2d"), ("1.1.5", "BatchNorm2d"), ("1.1.6", "LeakyReLU"), ("1.1.7", "Upsample"),
        ("2", "BatchNorm2d"),  # right after the concat
        ("3.0", "Conv2d"), ("4", "BatchNorm2d"), ("5", "LeakyReLU"),
        ("6.0", "Conv2d"), ("7", "BatchNorm2d"), ("8", "LeakyReLU"),  # need1x1_up
        ("9.0", "Conv2d"), ("10", "Sigmoid"),
    ]
    assert net.get_submodule("1.1.1.0").stride == (2, 2)
    assert net.get_submodule("2").num_features == 4 + 8
    assert net.get_submodule("1.0.3").negative_slope == 0.2


def test_skip_reflection_avg_and_bilinear_options():
    net = skip(2, 3, num_channels_down=[8, 8], num_channels_up=[8, 8], num_channels_skip=[0, 0], pad="reflection",
               downsample_mode=["avg", "max"], upsample_mode="bilinear")
    types = [type(module).__name__ for module in net.get_submodule("1.1").children()]
    assert types[:3] == ["ReflectionPad2d", "Conv2d", "AvgPool2d"]
    assert net.get_submodule("1.1.1").stride == (1, 1)
    assert all(m.align_corners is False for m in net.modules() if isinstance(m, nn.Upsample))


def test_concat_centre_crops_to_the_smaller_size():
    x = _input(2, 4, 6)
    out = Concat(nn.Identity(), nn.ZeroPad2d(1))(x)
    assert out.shape == (1, 4, 4, 6)
    assert torch.equal(out[:, 2:], x)


@pytest.mark.parametrize("out_channels", [1, 3])
@pytest.mark.parametrize("name", sorted(NETS))
def test_output_shape_and_range(name, out_channels):
    net = NETS[name](2, out_channels, **SMALL[name])
    assert net.min_size <= 64 and 64 % net.size_multiple == 0
    out = net(_input(2, 64, 64))
    assert out.shape == (1, out_channels, 64, 64)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", sorted(NETS))
def test_seeded_build_and_forward_are_deterministic(name):
    outputs = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        net = NETS[name](2, 3, **SMALL[name])
        with torch.no_grad():
            outputs.append(net(_input(2, 64, 64)))
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[0], outputs[2])


@pytest.mark.parametrize(
    ("name", "args", "min_size", "multiple"),
    [
        ("skip", {}, 64, 32),  # zero padding: BatchNorm needs 2 values at the deepest (1/32) level
        ("skip", TEXT, 64, 32),  # reflection pad 1 needs a 2-px deepest map
        ("skip", LIBRARY, 192, 64),  # 5x5 reflection (pad 2) needs a 3-px deepest map
        ("skip", dict(pad="reflection", filter_size_down=5, downsample_mode="avg"), 96, 32),
        ("skip", dict(num_channels_down=[8, 8], num_channels_up=[8, 8], num_channels_skip=[4, 4], pad="reflection",
                      filter_size_down=[9, 3], filter_skip_size=3), 12, 4),  # 9x9 pad 4 on the H/2 map: H/2 >= 5
        ("encdec", {}, 128, 64),
        ("encdec-skip", {}, 128, 64),
        ("encdec-res", dict(channels_down=(8, 8, 8)), 16, 8),
        ("bicubic", {}, 64, 32),
        ("bicubic", dict(depth=2, channels=8), 8, 4),
    ],
)
def test_min_size_works_and_one_step_smaller_fails(name, args, min_size, multiple):
    net = NETS[name](2, 3, **args)
    assert (net.min_size, net.size_multiple) == (min_size, multiple)
    with torch.no_grad():
        assert net(_input(2, min_size, min_size + multiple)).shape == (1, 3, min_size, min_size + multiple)
        smaller = min_size - multiple
        if smaller >= multiple:
            with pytest.raises((ValueError, RuntimeError)):
                net(_input(2, smaller, smaller))


@pytest.mark.parametrize("act_fun", ["ELU", "Swish", "none", nn.ReLU])
def test_skip_activations(act_fun):
    net = skip(2, 3, num_channels_down=[4, 4], num_channels_up=[4, 4], num_channels_skip=[2, 2], act_fun=act_fun)
    assert net(_input(2, 8, 8)).shape == (1, 3, 8, 8)


def test_skip_per_scale_options():
    net = skip(2, 1, num_channels_down=[4, 4, 4], num_channels_up=[4, 4, 4], num_channels_skip=[2, 0, 2],
               filter_size_down=[3, 5, 1], filter_size_up=[1, 3, 5], downsample_mode=["stride", "avg", "max"],
               upsample_mode=["nearest", "bilinear", "bicubic"], pad="reflection", need_sigmoid=False)
    assert net(_input(2, net.min_size, 2 * net.min_size)).shape == (1, 1, net.min_size, 2 * net.min_size)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: skip(num_channels_down=[8, 8], num_channels_up=[8], num_channels_skip=[4, 4]), "same"),
        (lambda: skip(filter_size_down=[3, 3]), "filter_size_down has 2 entries"),
        (lambda: skip(pad="circular"), "unknown pad"),
        (lambda: skip(downsample_mode="lanczos2"), "unknown downsample_mode"),
        (lambda: skip(upsample_mode="area"), "unknown upsample_mode"),
        (lambda: skip(filter_size_up=4), "not odd"),
        (lambda: skip(act_fun="Tanhh"), "unknown act_fun"),
        (lambda: encdec(variant="dense"), "unknown encdec variant"),
        (lambda: encdec(kernel_down=4), "not odd"),
        (lambda: encdec(variant="skip", skip_channels=0), "skip_channels"),
        (lambda: encdec(channels_down=()), "channels_down is empty"),
        (lambda: bicubic_net(skip_channels=0), "skip_channels"),
        (lambda: bicubic_net(upsample_mode="area"), "unknown upsample_mode"),
    ],
)
def test_bad_arguments_raise_one_line_value_errors(build, message):
    with pytest.raises(ValueError, match=message) as error:
        build()
    assert "\n" not in str(error.value)
