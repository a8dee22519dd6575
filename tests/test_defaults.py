"""Every default that decides a stored number, pinned: a change fails here in seconds, not only in the 12-minute
reference test (or, for a classical method on a machine with other library versions, nowhere).

A failing test here means a number of every stored run and of the reference would move: change the value only on
purpose, then update the literal below and remake the reference (``dip-bench reference``).
"""
from __future__ import annotations

import dataclasses
import inspect

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from dip_bench.baselines._oneshot import hole_mask_uint8
from dip_bench.bench import metrics
from dip_bench.bench.cli.reference import DETECT_DB
from dip_bench.bench.reference import FLOOR, K_DETECT, K_MAX, K_SE, TRIM, trimmed_mean
from dip_bench.bench.registry import BUILTIN
from dip_bench.contract import to_uint8
from dip_bench.datasets import masks
from dip_bench.dip.fit import FitConfig
from dip_bench.dip.nets import NETS
from dip_bench.dip.presets import Preset, load_presets

IMPRIOR_LOSS_SCALE = 1.5378700499807765e-05  # 1/255² as DL59/ImPrior computes it (mask / 255 scales the target too)
_DIP_FACTORY = {"seed": 0, "device": "cpu", "preset": None, "iterations": None, "lr": None, "sigma_p": None,
                "perturbation": None, "input": None, "input_channels": None, "upsample_mode": None,
                "final_output": None, "guard": None, "ema": None, "precision": "fp32", "early_stop": None,
                "wmv_window": 100, "wmv_patience": 1000, "channels_last": False, "compile": False, "every": 50,
                "loss_scale": None, "holdout": None, "holdout_patience": 1000, "emv_alpha": 0.1, "emv_patience": 1000,
                "welford_delta": 0.99, "welford_patience": 1000}
#: every built-in factory's keyword defaults (beyond ``net``, fixed by the registry)
FACTORY_DEFAULTS = {
    **dict.fromkeys(["dip-skip", "dip-encdec", "dip-encdec-skip", "dip-encdec-res", "dip-bicubic"], _DIP_FACTORY),
    "telea": {"seed": 0, "device": "cpu", "radius": 3},
    "ns": {"seed": 0, "device": "cpu", "radius": 3},
    "biharmonic": {"seed": 0, "device": "cpu"},
    "patchmatch": {"seed": 0, "device": "cpu", "patch_size": 5},
    "edgeconnect": {"seed": 0, "device": "cpu", "weights": None, "variant": None, "merge_edges": False, "sigma": 2.0},
}
_ENCDEC = {"num_input_channels": 32, "num_output_channels": 3, "channels_down": (16, 32, 64, 128, 128, 128),
           "kernel_down": 5, "kernel_up": 3, "skip_channels": 4, "upsample_mode": "nearest"}
NET_DEFAULTS = {
    "skip": {"num_input_channels": 2, "num_output_channels": 3, "num_channels_down": (16, 32, 64, 128, 128),
             "num_channels_up": (16, 32, 64, 128, 128), "num_channels_skip": (4, 4, 4, 4, 4), "filter_size_down": 3,
             "filter_size_up": 3, "filter_skip_size": 1, "need_sigmoid": True, "need_bias": True, "pad": "zero",
             "upsample_mode": "nearest", "downsample_mode": "stride", "act_fun": "LeakyReLU", "need1x1_up": True},
    "encdec": {**_ENCDEC, "variant": "plain"},
    "encdec-skip": {**_ENCDEC, "variant": "skip"},
    "encdec-res": {**_ENCDEC, "variant": "res"},
    "bicubic": {"num_input_channels": 32, "num_output_channels": 3, "depth": 5, "channels": 128, "skip_channels": 4,
                "upsample_mode": "bicubic", "align_corners": False},
}
FIT_DEFAULTS = {"lr": 0.01, "sigma_p": 1 / 30, "perturbation": "fixed", "final_output": "clean", "ema": None,
                "every": 50, "guard_drop_db": None, "guard_every": 50, "precision": "fp32", "early_stop": None,
                "wmv_window": 100, "wmv_patience": 1000, "loss_scale": 1.0, "monitors": True, "emv_alpha": 0.1,
                "emv_patience": 1000, "welford_delta": 0.99, "welford_patience": 1000, "holdout_patience": 1000}
_SKIP_ARGS = {"filter_size_down": 3, "filter_size_up": 3, "filter_skip_size": 1, "pad": "reflection"}
_OFFICIAL = {"input_scale": 0.1, "lr": 0.01, "perturbation": "fixed", "final_output": "clean", "guard_drop_db": None,
             "fit_size": "padded", "loss_scale": 1.0, "holdout": 0.0, "net": "skip"}
_WALK = {"input": "uniform", "input_channels": 32, "sigma_p": 1 / 30, "perturbation": "cumulative",
         "final_output": "clean", "guard_drop_db": None, "fit_size": "padded", "loss_scale": IMPRIOR_LOSS_SCALE,
         "holdout": 0.0, "net": "bicubic"}
#: every preset's settings (beyond its description)
PRESETS = {
    "text": {**_OFFICIAL, "input": "uniform", "input_channels": 32, "iterations": 6001, "sigma_p": 0.03,
             "net_args": {"num_channels_down": [128] * 5, "num_channels_up": [128] * 5,
                          "num_channels_skip": [128] * 5, **_SKIP_ARGS, "upsample_mode": "nearest"}},
    "text-holdout": {**_OFFICIAL, "input": "uniform", "input_channels": 32, "iterations": 6001, "sigma_p": 0.03,
                     "holdout": 0.1, "net_args": {"num_channels_down": [128] * 5, "num_channels_up": [128] * 5,
                                                  "num_channels_skip": [128] * 5, **_SKIP_ARGS,
                                                  "upsample_mode": "nearest"}},
    "region": {**_OFFICIAL, "input": "meshgrid", "input_channels": 2, "iterations": 5001, "sigma_p": 0.03,
               "net_args": {"num_channels_down": [128] * 5, "num_channels_up": [128] * 5,
                            "num_channels_skip": [0] * 5, **_SKIP_ARGS, "upsample_mode": "nearest"}},
    "large-region": {**_OFFICIAL, "input": "uniform", "input_channels": 1, "iterations": 3001, "sigma_p": 0.0,
                     "net_args": {"num_channels_down": [16, 32, 64, 128, 128, 128],
                                  "num_channels_up": [16, 32, 64, 128, 128, 128], "num_channels_skip": [0] * 6,
                                  **_SKIP_ARGS, "filter_size_down": 5, "upsample_mode": "nearest",
                                  "need1x1_up": False}},
    "pixels": {**_OFFICIAL, "input": "uniform", "input_channels": 32, "lr": 0.001, "iterations": 11000,
               "sigma_p": 0.03, "final_output": "perturbed", "guard_drop_db": 5.0, "fit_size": "native",
               "net_args": {"num_channels_down": [128] * 5, "num_channels_up": [128] * 5,
                            "num_channels_skip": [4] * 5, **_SKIP_ARGS, "upsample_mode": "bilinear"}},
    "gerardtho": {**_OFFICIAL, "input": "uniform", "input_channels": 32, "input_scale": 1.0, "iterations": 5000,
                  "sigma_p": 0.03, "net": None, "net_args": {}},
    "imprior": {**_WALK, "input_scale": 0.1, "lr": 0.01, "iterations": 2000,
                "net_args": {"upsample_mode": "bicubic"}},
    "imprior-notebook": {**_WALK, "input_scale": 0.05, "lr": 0.0075, "iterations": 4000,
                         "net_args": {"upsample_mode": "bilinear", "align_corners": True}},
}


def defaults(function) -> dict:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.fixture
def pair(smooth_image: np.ndarray, hole_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rough = (smooth_image + np.random.default_rng(3).normal(0, 0.05, smooth_image.shape)).clip(0, 1)
    return rough.astype(np.float32), hole_mask


# --- metrics -------------------------------------------------------------------------------------------------------

def test_ssim_is_wang_et_al_gaussian_sigma_1_5_population_covariance_range_1(pair):
    assert metrics.SSIM_ARGS == {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5,
                                 "use_sample_covariance": False}
    image, _ = pair
    test = np.clip(image + np.random.default_rng(4).normal(0, 0.1, image.shape), 0, 1)
    value, ssim_map = metrics.ssim(image.astype(np.float64), test)
    wang = structural_similarity(image.astype(np.float64), test, channel_axis=-1, data_range=1.0,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    other_sigma = structural_similarity(image.astype(np.float64), test, channel_axis=-1, data_range=1.0,
                                        gaussian_weights=True, sigma=1.0, use_sample_covariance=False)
    assert value == wang != other_sigma and ssim_map.shape == image.shape[:2]


def test_psnr_data_range_is_one():
    reference = np.zeros((8, 8, 3))
    assert metrics.psnr(reference, reference + 0.1) == pytest.approx(20.0, abs=1e-12)
    mask = np.ones((8, 8), bool)
    mask[2:4, 2:4] = False
    assert metrics.psnr_hole(reference, reference + 0.01, mask) == pytest.approx(40.0, abs=1e-12)


def test_outputs_are_quantised_by_rounding_to_255_levels():
    assert to_uint8(np.array([[[0.0, 0.5 / 255 - 1e-9, 0.5 / 255 + 1e-9, 1.0, 1.5]]])).tolist() == [[[0, 0, 1, 255,
                                                                                                        255]]]


# --- methods -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(BUILTIN))
def test_factory_defaults(name):
    assert {k: v for k, v in defaults(BUILTIN[name].load_factory()).items() if k != "net"} == FACTORY_DEFAULTS[name]


def test_every_builtin_method_is_pinned():
    assert set(FACTORY_DEFAULTS) == set(BUILTIN)


@pytest.mark.parametrize("name, flag", [("telea", cv2.INPAINT_TELEA), ("ns", cv2.INPAINT_NS)])
def test_opencv_default_is_radius_3_on_rounded_uint8_with_hidden_holes(pair, name, flag):
    image, mask = pair
    output, record = BUILTIN[name].load_factory()()(image, mask)
    source = to_uint8(np.where(mask[..., None], image, 0.0))
    expected = cv2.inpaint(source, hole_mask_uint8(mask), 3, flag).astype(np.float32) / 255.0
    assert record["radius"] == 3
    assert np.array_equal(output[~mask], expected[~mask]) and np.array_equal(output[mask], image[mask])


@pytest.mark.parametrize("name", list(NETS))
def test_net_builder_defaults(name):
    assert defaults(NETS[name]) == NET_DEFAULTS[name]


def test_fit_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(FitConfig) if f.default is not dataclasses.MISSING}
    assert fields == FIT_DEFAULTS


def test_preset_optional_key_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(Preset) if f.default is not dataclasses.MISSING}
    assert fields == {"final_output": "clean", "guard_drop_db": None, "fit_size": "padded", "loss_scale": 1.0,
                      "holdout": 0.0, "net": None}


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_values(name):
    preset = dataclasses.asdict(load_presets()[name])
    assert {k: v for k, v in preset.items() if k not in ("name", "description")} == PRESETS[name]


def test_every_preset_is_pinned():
    assert set(load_presets()) == set(PRESETS)


# --- masks ---------------------------------------------------------------------------------------------------------

def test_mask_generation_parameters():
    assert masks.HOLE_RANGES == {"text": (0.04, 0.08), "pixels50": (0.45, 0.55), "boxes": (0.15, 0.35),
                                 "strokes-10-20": (0.10, 0.20), "strokes-20-30": (0.20, 0.30),
                                 "strokes-30-40": (0.30, 0.40), "strokes-40-50": (0.40, 0.50),
                                 "region": (0.25, 0.40)}
    assert (masks.MIN_SIDE, masks.MAX_DRAWS, masks._TEXT_HEIGHT, masks._MIN_TEXT_HEIGHT) == (32, 2000, 22, 7)


# --- the check's tolerances ----------------------------------------------------------------------------------------

def test_check_tolerance_constants():
    assert FLOOR == {"psnr": 1e-9, "ssim": 1e-12}
    assert (K_SE, K_MAX, K_DETECT, TRIM, DETECT_DB) == (3.0, 1.5, 2.0, 0.25, 1.0)
    assert trimmed_mean(np.array([0.0, 1.0, 2.0, 3.0, 100.0, -100.0, 4.0, 5.0])) == 2.5  # 2 of 8 cut at each end
