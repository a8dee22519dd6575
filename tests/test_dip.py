"""The DIP engine: determinism, fitting behaviour, sizes, presets and guards (CPU, 64 px, few iterations)."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from dip_bench.dip.fit import FitConfig, fit_dip
from dip_bench.dip.inpainter import DIPInpainter
from dip_bench.dip.inputs import make_input
from dip_bench.dip.presets import get_preset, load_presets


def fit(image, mask, seed=0, iterations=10, **kw):
    return DIPInpainter("skip", preset=kw.pop("preset", "region"), iterations=iterations, seed=seed, **kw)(image, mask)


def test_same_seed_is_byte_identical_and_other_seed_differs(smooth_image, hole_mask):
    a, record = fit(smooth_image, hole_mask, seed=3)
    b, _ = fit(smooth_image, hole_mask, seed=3)
    c, _ = fit(smooth_image, hole_mask, seed=4)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert a.shape == smooth_image.shape and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert record["iterations"] == 10 and record["device"] == "cpu" and record["seed"] == 3


@pytest.mark.parametrize("perturbation", ["fixed", "cumulative"])
def test_loss_falls_and_known_pixels_fit_better_than_holes(smooth_image, hole_mask, perturbation):
    seen = []
    out, record = DIPInpainter("skip", preset="region", iterations=50, every=10, perturbation=perturbation,
                               seed=0)(smooth_image * hole_mask[..., None], hole_mask,
                                       observe=lambda it, output, stats, label=None: seen.append((it, output, stats)))
    curve = [stats["loss"] for _, _, stats in seen]
    assert [it for it, _, _ in seen] == [0, 10, 20, 30, 40, 49]
    assert curve[-1] < 0.5 * curve[0]
    assert all(output.shape == smooth_image.shape and output.dtype == np.float32 for _, output, _ in seen)
    err = (out - smooth_image) ** 2
    assert err[hole_mask].mean() < err[~hole_mask].mean()
    assert record["perturbation"] == perturbation


def test_gray_and_odd_sizes_are_padded_and_cropped_back(hole_mask):
    image = np.random.default_rng(1).random((70, 67, 1)).astype(np.float32)
    mask = np.ones((70, 67), bool)
    mask[10:20, 10:20] = False
    out, _ = DIPInpainter("skip", preset="region", iterations=2)(image, mask)
    assert out.shape == (70, 67, 1)


def test_too_small_image_names_the_minimum():
    image = np.zeros((40, 40, 3), np.float32)
    with pytest.raises(ValueError, match="needs at least 64x64"):
        DIPInpainter("skip", preset="text", iterations=1)(image, np.ones((40, 40), bool))


def test_presets_match_the_official_notebooks():
    presets = load_presets()
    assert {"text", "region", "large-region", "pixels"} <= set(presets)
    text = get_preset("text")
    assert (text.lr, text.iterations, text.sigma_p, text.input_channels) == (0.01, 6001, 0.03, 32)
    assert get_preset("large-region").sigma_p == 0 and get_preset("large-region").iterations == 3001
    assert get_preset("pixels").lr == 0.001 and get_preset("pixels").net_args["upsample_mode"] == "bilinear"
    assert get_preset("region").input == "meshgrid"
    with pytest.raises(ValueError, match="did you mean text"):
        get_preset("textt")


@pytest.mark.parametrize("kind", ["uniform", "normal", "bernoulli", "meshgrid"])
def test_inputs_are_seeded(kind):
    channels = 2 if kind == "meshgrid" else 4
    a = make_input(kind, channels, (8, 9), torch.Generator().manual_seed(1))
    b = make_input(kind, channels, (8, 9), torch.Generator().manual_seed(1))
    assert a.shape == (1, channels, 8, 9) and torch.equal(a, b)
    if kind == "uniform":
        assert 0 <= a.min() and a.max() <= 0.1


def test_guard_counts_a_non_finite_loss_as_a_fall(smooth_image, hole_mask):
    """A NaN output at a check falls back (the notebook's comparison would checkpoint NaN weights); Adam's moments
    are kept, so the NaN gradient comes back and every following step is checked and falls back again."""

    class Exploding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 3, 1)
            self.calls = 0

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            out = torch.sigmoid(self.conv(z))
            return out * math.nan if self.calls == 16 else out

    target = torch.from_numpy(smooth_image.transpose(2, 0, 1))[None]
    mask = torch.from_numpy(hole_mask.astype(np.float32))[None, None]
    z = make_input("meshgrid", 2, (64, 64), torch.Generator())
    config = FitConfig(iterations=30, every=5, sigma_p=0.0, guard_drop_db=5.0, guard_every=5)
    result = fit_dip(Exploding(), z, target, mask, config, torch.Generator())
    assert result.restore_iters == list(range(15, 30))


def test_ema_output_is_used(smooth_image, hole_mask):
    plain, _ = fit(smooth_image, hole_mask, iterations=5)
    averaged, _ = fit(smooth_image, hole_mask, iterations=5, ema=0.9)
    assert not np.array_equal(plain, averaged)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda(smooth_image, hole_mask):
    out, record = DIPInpainter("skip", preset="region", iterations=5, device="cuda")(smooth_image, hole_mask)
    assert out.shape == smooth_image.shape and record["device"].startswith("cuda")


def test_wmv_early_stop_stops_and_reports(smooth_image, hole_mask):
    monitored, record = fit(smooth_image, hole_mask, iterations=40, early_stop="wmv-monitor", wmv_window=5,
                            wmv_patience=10, every=5)
    assert record["iterations"] == 40 and 4 <= record["es_iter"] < 40 and record["es_saved_iters"] == 0
    labelled = []
    stopped, record = DIPInpainter("skip", preset="region", iterations=400, early_stop="wmv", wmv_window=5,
                                   wmv_patience=3, every=1, lr=0.0, seed=0)(
        smooth_image, hole_mask,
        observe=lambda it, output, stats, label=None: label == "es-wmv" and labelled.append((it, output)))
    assert record["iterations"] < 400 and record["es_saved_iters"] == 400 - record["iterations"]
    assert len(labelled) == 1 and labelled[0][0] == record["es_iter"] and np.array_equal(labelled[0][1], stopped)
    assert "es_psnr" not in record


def test_a_pack_of_three_fits_equals_each_fit_alone():
    """REFERENCE.md "Packing independent fits": N fits stacked into one vectorised step compute what N separate
    fits compute (own init, z, target, mask and perturbation stream each), up to float rounding."""
    from dip_bench.dip.nets import NETS
    from dip_bench.dip.pack import fit_packed

    def net(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return NETS["skip"](4, 3, num_channels_down=[8, 8], num_channels_up=[8, 8], num_channels_skip=[4, 4],
                            upsample_mode="bilinear", pad="reflection")

    rng = np.random.default_rng(0)
    nets = [net(seed) for seed in range(3)]
    zs = [make_input("uniform", 4, (32, 32), torch.Generator().manual_seed(seed)) for seed in range(3)]
    targets = [torch.from_numpy(rng.random((1, 3, 32, 32)).astype(np.float32)) for _ in range(3)]
    masks = [torch.from_numpy((rng.random((1, 1, 32, 32)) > 0.3).astype(np.float32)) for _ in range(3)]
    # one step: the pack's grouped kernels round differently from the single net's, and later steps amplify that like
    # any kernel change (under ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1, 6 steps drift to 3e-2 relative)
    config = FitConfig(iterations=1, lr=0.01, sigma_p=0.03)
    packed = fit_packed([copy.deepcopy(n) for n in nets], zs, targets, masks, config,
                        [torch.Generator().manual_seed(10 + i) for i in range(3)])
    for i in range(3):
        alone = fit_dip(copy.deepcopy(nets[i]), zs[i], targets[i], masks[i], config,
                        torch.Generator().manual_seed(10 + i)).output
        torch.testing.assert_close(packed[i], alone, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(packed[0], packed[1])


@pytest.mark.parametrize("has_fp32_precision", [True, False])
def test_tf32_switch_works_with_and_without_fp32_precision(monkeypatch, has_fp32_precision):
    """torch >= 2.9 has cudnn.conv.fp32_precision; older releases only the allow_tf32 flags (the torch floor)."""
    from dip_bench.dip.fit import _set_cuda_tf32

    if not has_fp32_precision:
        monkeypatch.delattr(type(torch.backends.cudnn), "conv", raising=False)
        before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        restore = _set_cuda_tf32(False)
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (False, False)
        restore()
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
        return
    if not hasattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision"):
        pytest.skip("this torch predates cudnn.conv.fp32_precision")
    before = torch.backends.cudnn.conv.fp32_precision
    restore = _set_cuda_tf32(False)
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"
    restore()
    assert torch.backends.cudnn.conv.fp32_precision == before
