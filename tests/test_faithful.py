"""The fit does what the original codes do (issue 15), checked against small emulations written from their logic.

- restoration.ipynb: the closure rebinds ``global net_input`` (the final output is the net's output for the last
  perturbed input) and backtracks after ``backward()`` every ``show_every`` calls, copying back the parameters only,
  still stepping with the gradients it has, and re-checking the next call (its counter does not advance).
- ES_WMV.ipynb: window of the last W outputs, score = mean over the window of ``sum((mean − x)²) / x.size``, strict
  minimum, patience counter; once the flag is up ``best_epoch`` never moves.
- The presets carry each original's settings.

Emulations run on CPU with 64 px images and a small skip net; equality is exact (same ops in the same order).
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from dip_bench.dip.fit import FitConfig, WindowedVariance, fit_dip
from dip_bench.dip.inpainter import DIPInpainter
from dip_bench.dip.nets import NETS
from dip_bench.dip.presets import get_preset

SIZE = 64


class Sabotaged(torch.nn.Module):
    """Wraps a net; on the given (0-based) calls its output is replaced by the inverse of ``target`` (the gradient
    still flows through the net), so the masked PSNR collapses at exactly those steps."""

    def __init__(self, net: torch.nn.Module, target: torch.Tensor, bad_calls: set[int]) -> None:
        super().__init__()
        self.net, self.target, self.bad_calls, self.calls = net, target, bad_calls, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z)
        if self.calls in self.bad_calls:
            out = out - out.detach() + (1.0 - self.target)
        self.calls += 1
        return out


def official_restoration(net: torch.nn.Module, z: torch.Tensor, img: torch.Tensor, mask: torch.Tensor, lr: float,
                         num_iter: int, reg_noise_std: float, generator: torch.Generator,
                         show_every: int) -> tuple[torch.Tensor, list[int]]:
    """restoration.ipynb's loop (optimize(): zero_grad, closure(), step) re-written from its logic: returns the
    final ``net(net_input)`` and the steps at which it fell back."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    mse = torch.nn.MSELoss()
    mask_var = mask.expand_as(img)
    img_masked = (img * mask_var)[0].numpy()
    net_input_saved, noise = z.clone(), torch.empty_like(z)
    net_input = net_input_saved
    i, psrn_masked_last, last_net, falls = 0, 0.0, None, []
    for j in range(num_iter):
        optimizer.zero_grad()
        net_input = net_input_saved + (noise.normal_(generator=generator) * reg_noise_std)
        out = net(net_input)
        total_loss = mse(out * mask_var, img * mask_var)
        total_loss.backward()
        psrn_masked = peak_signal_noise_ratio(img_masked, (out.detach() * mask_var)[0].numpy(), data_range=1)
        fell = False
        if i % show_every == 0:
            if psrn_masked - psrn_masked_last < -5:
                with torch.no_grad():
                    for saved, param in zip(last_net, net.parameters()):
                        param.copy_(saved)
                falls.append(j)
                fell = True
            else:
                last_net = [p.detach().clone() for p in net.parameters()]
                psrn_masked_last = psrn_masked
        if not fell:
            i += 1
        optimizer.step()
    with torch.no_grad():
        return net(net_input), falls


def _problem(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small seeded skip net (bilinear, 4-ch skips, as the pixels preset), z, a binary target and a 50 % mask."""
    rng = np.random.default_rng(seed)
    blocks = np.kron(rng.random((8, 8)) > 0.5, np.ones((SIZE // 8, SIZE // 8)))
    target = torch.from_numpy(blocks.astype(np.float32))[None, None]
    mask = torch.from_numpy((rng.random((SIZE, SIZE)) > 0.5).astype(np.float32))[None, None]
    torch.manual_seed(seed)
    net = NETS["skip"](8, 1, num_channels_down=[8, 8], num_channels_up=[8, 8], num_channels_skip=[4, 4],
                       upsample_mode="bilinear", pad="reflection")
    z = torch.rand((1, 8, SIZE, SIZE), generator=torch.Generator().manual_seed(seed)) * 0.1
    return net, z, target, mask


def _ours(net, z, target, mask, config: FitConfig, noise_seed: int = 5):  # noqa: ANN001, ANN202
    return fit_dip(net, z, target, mask, config, torch.Generator().manual_seed(noise_seed))


def test_final_output_is_the_last_perturbed_inputs_output():
    net, z, target, mask = _problem()
    config = FitConfig(iterations=12, lr=0.01, sigma_p=0.03, final_output="perturbed")
    official, _ = official_restoration(copy.deepcopy(net), z, target, mask, 0.01, 12, 0.03,
                                       torch.Generator().manual_seed(5), show_every=50)
    perturbed = _ours(copy.deepcopy(net), z, target, mask, config).output
    clean = _ours(copy.deepcopy(net), z, target, mask, FitConfig(iterations=12, lr=0.01, sigma_p=0.03)).output
    assert torch.equal(perturbed, official)
    assert not torch.equal(clean, official)


def test_backtracking_matches_restoration_ipynb():
    """Steps 10 and 11 collapse: the check at closure call 10 falls back, the counter stays, step 11 is checked again
    and falls back again; parameters only are restored and the optimiser still steps."""
    net, z, target, mask = _problem()
    bad = {10, 11}
    official, falls = official_restoration(Sabotaged(copy.deepcopy(net), target, bad), z, target, mask, 0.01, 24,
                                           0.03, torch.Generator().manual_seed(5), show_every=5)
    config = FitConfig(iterations=24, lr=0.01, sigma_p=0.03, final_output="perturbed", guard_drop_db=5.0,
                       guard_every=5)
    ours = _ours(Sabotaged(copy.deepcopy(net), target, bad), z, target, mask, config)
    assert falls == [10, 11]
    assert ours.restore_iters == falls
    assert torch.equal(ours.output, official)


def test_guard_is_off_unless_set():
    net, z, target, mask = _problem()
    config = FitConfig(iterations=14, lr=0.01, sigma_p=0.03, guard_every=5)
    assert config.guard_drop_db is None
    assert _ours(Sabotaged(copy.deepcopy(net), target, {10}), z, target, mask, config).restore_iters == []


class OfficialWMV:
    """ES_WMV.ipynb's ``EarlyStop`` + ``check_early_stop`` re-written from its logic (numpy, every iteration)."""

    def __init__(self, size: int, patience: int) -> None:
        self.size, self.patience = size, patience
        self.window: list[np.ndarray] = []
        self.best_score, self.best_epoch, self.wait, self.stop, self.stop_epoch = np.inf, 0, 0, False, -1

    def feed(self, epoch: int, image: np.ndarray) -> None:
        self.window.append(image.reshape(-1))
        if len(self.window) > self.size:
            self.window.pop(0)
        if len(self.window) < self.size or self.stop:
            return
        mean = np.mean(self.window, axis=0)
        score = np.mean([((mean - x) ** 2).sum() / x.size for x in self.window])
        if score < self.best_score:
            self.best_score, self.best_epoch, self.wait = score, epoch, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stop, self.stop_epoch = True, epoch


def synthetic_outputs(steps: int = 400, seed: int = 0) -> np.ndarray:
    """(steps, 1, 3, 8, 8) float32 in [0, 1]: jitter whose size falls to a minimum near step 100, rises, then falls
    to a *lower* minimum near step 320 (a frozen detection must keep the first one)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    amplitude = np.where(t < 200, 0.02 + 0.1 * np.abs(t - 100) / 100, 0.01 + 0.1 * np.abs(t - 320) / 120)
    jitter = rng.standard_normal((steps, 1, 3, 8, 8)) * amplitude[:, None, None, None, None]
    return np.clip(0.5 + jitter, 0, 1).astype(np.float32)


WINDOW, PATIENCE = 10, 30


def official_detection(outputs: np.ndarray) -> OfficialWMV:
    rule = OfficialWMV(WINDOW, PATIENCE)
    for epoch, image in enumerate(outputs):
        rule.feed(epoch, image)
    return rule


def test_windowed_variance_matches_the_official_rule():
    outputs = synthetic_outputs()
    official = official_detection(outputs)
    assert official.stop and 80 <= official.best_epoch <= 130 and official.stop_epoch == official.best_epoch + PATIENCE
    ours = WindowedVariance(WINDOW, PATIENCE, torch.zeros(1, 3, 8, 8))
    for epoch, image in enumerate(outputs):
        ours.update(epoch, torch.from_numpy(image))
    assert int(ours.best_iteration) == official.best_epoch
    assert int(ours.stop_iteration) == official.stop_epoch
    assert torch.equal(ours.best, torch.from_numpy(outputs[official.best_epoch]))


class Replay(torch.nn.Module):
    """A 'net' whose t-th call returns the t-th given output (plus 0·weight so that Adam has a gradient)."""

    def __init__(self, outputs: np.ndarray) -> None:
        super().__init__()
        self.outputs = torch.from_numpy(outputs)
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.calls = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.outputs[min(self.calls, len(self.outputs) - 1)] + 0 * self.weight
        self.calls += 1
        return out


@pytest.mark.parametrize("mode", ["wmv", "wmv-monitor"])
def test_fit_returns_the_official_es_wmv_iterate(mode: str):
    outputs = synthetic_outputs()
    official = official_detection(outputs)
    every = 7
    config = FitConfig(iterations=len(outputs), sigma_p=0.0, every=every, early_stop=mode, wmv_window=WINDOW,
                       wmv_patience=PATIENCE)
    target, mask = torch.full((1, 3, 8, 8), 0.5), torch.ones(1, 1, 8, 8)
    shown = []
    result = fit_dip(Replay(outputs), torch.zeros(1, 1, 8, 8), target, mask, config, torch.Generator(),
                     observe=lambda it, out, stats, label: label == "es-wmv" and shown.append((label, it, out)))
    assert [(label, it) for label, it, _ in shown] == [("es-wmv", official.best_epoch)]
    assert torch.equal(shown[0][2], torch.from_numpy(outputs[official.best_epoch]))
    assert result.early_stop["es_iter"] == official.best_epoch
    assert result.early_stop["es_stop_iter"] == official.stop_epoch
    if mode == "wmv":
        assert torch.equal(result.output, torch.from_numpy(outputs[official.best_epoch]))
        read = official.stop_epoch + (-official.stop_epoch) % every
        assert result.iterations == read + 1 < len(outputs)
    else:
        assert result.iterations == len(outputs)


def test_presets_carry_the_originals_settings():
    pixels = get_preset("pixels")
    assert (pixels.final_output, pixels.guard_drop_db, pixels.fit_size) == ("perturbed", 5.0, "native")
    for name in ("text", "region", "large-region", "gerardtho", "imprior", "imprior-notebook"):
        preset = get_preset(name)
        assert (preset.final_output, preset.guard_drop_db, preset.fit_size) == ("clean", None, "padded"), name
    readme = get_preset("imprior")
    assert (readme.iterations, readme.lr, readme.input_scale, readme.perturbation) == (2000, 0.01, 0.1, "cumulative")
    assert readme.sigma_p == 1 / 30 and readme.net == "bicubic" and readme.net_args == {"upsample_mode": "bicubic"}
    notebook = get_preset("imprior-notebook")
    assert (notebook.iterations, notebook.lr, notebook.input_scale, notebook.sigma_p) == (4000, 0.0075, 0.05, 1 / 30)
    assert notebook.net_args == {"upsample_mode": "bilinear", "align_corners": True}


def test_imprior_notebook_builds_bilinear_align_corners():
    net = DIPInpainter("bicubic", preset="imprior-notebook").build_net(3)
    upsamples = [m for m in net.modules() if isinstance(m, torch.nn.Upsample)]
    assert upsamples and all(m.mode == "bilinear" and m.align_corners for m in upsamples)


def test_pixels_preset_fits_at_the_images_own_size_and_records_the_guard():
    image = np.random.default_rng(0).random((66, 66, 1)).astype(np.float32)
    mask = np.random.default_rng(1).random((66, 66)) > 0.5
    _, record = DIPInpainter("skip", preset="pixels", iterations=2)(image, mask)
    assert record["fit_shape"] == "66x66"
    assert (record["final_output"], record["guard_drop_db"], record["restores"], record["restore_iters"]) == \
        ("perturbed", 5.0, 0, [])
    _, record = DIPInpainter("skip", preset="pixels", iterations=2, guard=False, final_output="clean")(image, mask)
    assert (record["final_output"], record["guard_drop_db"]) == ("clean", None)


def imprior_loop(net: torch.nn.Module, z: torch.Tensor, img: torch.Tensor, mask: torch.Tensor, lr: float,
                 num_iter: int, sigma: float, generator: torch.Generator) -> tuple[torch.Tensor, list[float]]:
    """DL59/ImPrior's loop re-written from its logic (Notebooks/Impainting.ipynb): the mask is ``convert('1')``
    divided by 255 (known = 1/255), the target is ``mask · image`` with the image in [0, 1], the loss
    ``mse_loss(output · mask, target)``; Adam steps, then z walks by σ·N(0, 1). One shift makes it comparable with our
    ``cumulative`` walk, which perturbs before each step: z starts one walk step on. Returns (net(z) for the last z
    fed, with the final weights; the losses)."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    mask_tensor = mask / 255
    im_masked_tensor = img * mask_tensor
    noise = torch.empty_like(z)
    z = torch.add(z, noise.normal_(generator=generator), alpha=sigma)
    losses = []
    for epoch in range(num_iter):
        optimizer.zero_grad()
        output = net(z)
        loss = torch.nn.functional.mse_loss(output * mask_tensor, im_masked_tensor)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
        if epoch < num_iter - 1:
            z = torch.add(z, noise.normal_(generator=generator), alpha=sigma)
    with torch.no_grad():
        return net(z), losses


def test_imprior_loss_scale_matches_its_loop():
    """ImPrior's loss is the masked MSE times 1/255² (its notebook prints losses near 1e-6); through Adam's eps the
    fit differs from the unscaled one, so the presets carry the scale and the loop reproduces the original's."""
    net, z, target, mask = _problem()
    scale = get_preset("imprior").loss_scale
    assert scale == get_preset("imprior-notebook").loss_scale == (1 / 255) ** 2
    assert all(get_preset(name).loss_scale == 1.0 for name in ("text", "region", "large-region", "pixels", "gerardtho"))
    official, losses = imprior_loop(copy.deepcopy(net), z, target, mask, 0.01, 8, 1 / 30,
                                    torch.Generator().manual_seed(5))
    config = FitConfig(iterations=8, lr=0.01, sigma_p=1 / 30, perturbation="cumulative", every=1, loss_scale=scale)
    ours = _ours(copy.deepcopy(net), z, target, mask, config)
    assert [point["loss"] for point in ours.curve] == losses and max(losses) < 1e-5
    assert torch.equal(ours.output, official.clamp(0, 1))
    unscaled = _ours(copy.deepcopy(net), z, target, mask, FitConfig(**{**config.__dict__, "loss_scale": 1.0}))
    assert not torch.equal(unscaled.output, ours.output)
    assert DIPInpainter("bicubic", preset="imprior").config.loss_scale == scale
    assert DIPInpainter("bicubic", preset="imprior", loss_scale=1.0).config.loss_scale == 1.0
