"""Stopping rules (issue 28): each rule with an original matches an emulation written from its logic, exactly, on
synthetic outputs and on a short 64 px fit; the monitors change no fitted value; no rule sees the clean image; the
harness scores every rule against the fixed count and the oracle peak.

Emulations (numpy, every iteration, from ../shared/REFERENCE-variants.md sections 5-6 and the originals):
- ES_EMV.ipynb ``EWMVar``: t = 0 initialises EMA = x, EMV = 0; then δ = x − EMA, EMA = clip(EMA + αδ, 0, 1),
  EMV = (1 − α)(EMV + α‖δ‖²); ``check_stop`` only for t > 100 while not stopped (strict minimum, patience);
- the handbook's ``early_stopping_welfords``: Welford's mean/M2 since t = 0, g = mean(M2 / n); for t > 100 while not
  stopped: g < δ·g_min takes the minimum, stop when t >= i_min + patience.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from dip_bench.bench import metrics, stopping
from dip_bench.contract import call_method, composite
from dip_bench.dip.fit import FitConfig, fit_dip
from dip_bench.dip.inpainter import DIPInpainter
from dip_bench.dip.stopping import ExponentialVariance, WelfordVariance, WindowedVariance

from test_faithful import OfficialWMV, Replay, synthetic_outputs

PATIENCE, START = 30, 100


class OfficialEMV:
    """ES_EMV.ipynb's ``EWMVar`` and its closure's check, re-written from their logic."""

    def __init__(self, alpha: float, patience: int) -> None:
        self.alpha, self.patience = alpha, patience
        self.wait, self.best_emv, self.best_epoch, self.stop, self.stop_epoch = 0, np.inf, 0, False, -1
        self.ema: np.ndarray | None = None
        self.emv = 0.0

    def feed(self, epoch: int, image: np.ndarray) -> None:
        x = image.reshape(-1)
        if epoch == 0:
            self.ema, self.emv = x, 0.0
        else:
            delta = x - self.ema
            self.ema = np.clip(self.ema + self.alpha * delta, 0, 1)
            self.emv = (1 - self.alpha) * (self.emv + self.alpha * float(np.sum(delta.astype(np.float64) ** 2)))
        if epoch > START and not self.stop:
            if self.emv < self.best_emv:
                self.best_emv, self.best_epoch, self.wait = self.emv, epoch, 0
            else:
                self.wait += 1
                self.stop = self.wait >= self.patience
                self.stop_epoch = epoch if self.stop else -1


class HandbookWelford:
    """alexdenker/deep-image-prior-handbook ``early_stopping_welfords``, re-written from its logic."""

    def __init__(self, patience: int, delta: float) -> None:
        self.patience, self.delta = patience, delta
        self.g_min, self.i_min, self.stop, self.stop_epoch, self.n = np.inf, 0, False, -1, 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def feed(self, i: int, image: np.ndarray) -> None:
        x = image.reshape(-1).astype(np.float32)
        if self.mean is None:
            self.mean, self.m2 = np.zeros_like(x), np.zeros_like(x)
        self.n += 1
        d = x - self.mean
        self.mean += d / np.float32(self.n)
        self.m2 += d * (x - self.mean)
        g = float(np.mean((self.m2 / np.float32(self.n)).astype(np.float64)))
        if i > START and not self.stop:
            if g < self.delta * self.g_min:
                self.g_min, self.i_min = g, i
            if i >= self.i_min + self.patience:
                self.stop, self.stop_epoch = True, i


def emulate(outputs: np.ndarray) -> dict[str, tuple[int, int]]:
    """(best iteration, stop iteration or -1) of each emulated original over ``outputs`` (one per step)."""
    wmv, emv, welford = OfficialWMV(10, PATIENCE), OfficialEMV(0.1, PATIENCE), HandbookWelford(PATIENCE, 0.99)
    for epoch, image in enumerate(outputs):
        for rule in (wmv, emv, welford):
            rule.feed(epoch, image)
    return {"es-wmv": (wmv.best_epoch, wmv.stop_epoch), "es-emv": (emv.best_epoch, emv.stop_epoch),
            "welford": (welford.i_min, welford.stop_epoch)}


def ours(like: torch.Tensor) -> dict[str, object]:
    return {"es-wmv": WindowedVariance(10, PATIENCE, like), "es-emv": ExponentialVariance(0.1, PATIENCE, like),
            "welford": WelfordVariance(0.99, PATIENCE, like)}


def test_rules_match_their_originals_on_synthetic_outputs():
    outputs = synthetic_outputs(600)
    expected = emulate(outputs)
    rules = ours(torch.zeros(1, 3, 8, 8))
    for epoch, image in enumerate(outputs):
        for rule in rules.values():
            rule.update(epoch, torch.from_numpy(image))
    for label, rule in rules.items():
        best, stop = expected[label]
        assert stop > 0, f"{label} should trigger on this curve"
        assert (int(rule.best_iteration), int(rule.stop_iteration)) == (best, stop), label
        assert torch.equal(rule.best, torch.from_numpy(outputs[best])), label


def _tiny(**overrides) -> DIPInpainter:
    """A small skip net (3 scales x 16) on the text preset's fit, with small windows and patience so rules fire."""
    settings = {"iterations": 200, "every": 1, "wmv_window": 10, "wmv_patience": PATIENCE, "emv_patience": PATIENCE,
                "welford_patience": PATIENCE, "holdout_patience": PATIENCE, **overrides}
    method = DIPInpainter("skip", preset=settings.pop("preset", "text"), **settings)
    method.net_args.update(num_channels_down=[16] * 3, num_channels_up=[16] * 3, num_channels_skip=[4] * 3)
    return method


def _observe(method, image, mask):
    seen: list[tuple[int, np.ndarray, dict, str | None]] = []
    out, record = method(image, mask, observe=lambda it, output, stats, label=None: seen.append(
        (it, output, dict(stats), label)))
    return out, record, seen


def test_rules_match_their_originals_on_a_64px_fit(smooth_image, hole_mask):
    _, record, seen = _observe(_tiny(), smooth_image * hole_mask[..., None], hole_mask)
    steps = np.stack([output for it, output, _, label in seen if label is None])
    assert len(steps) == record["iterations"] == 200
    expected = emulate(steps)
    chosen = {label: (it, output, stats) for it, output, stats, label in seen if label is not None}
    assert set(chosen) == {"es-wmv", "es-emv", "welford"}
    for label, (best, stop) in expected.items():
        it, output, stats = chosen[label]
        assert it == best and np.array_equal(output, steps[best]), label
        assert stats == {"stop_iteration": float(stop if stop >= 0 else 199), "stopped": float(stop >= 0)}, label
    assert any(stop >= 0 for _, stop in expected.values())


def test_monitors_change_no_fitted_value(smooth_image, hole_mask):
    image = smooth_image * hole_mask[..., None]
    watched = _tiny(iterations=150)
    bare = _tiny(iterations=150)
    bare.config = dataclasses.replace(bare.config, monitors=False)
    out_w, _, seen_w = _observe(watched, image, hole_mask)
    out_b, _, seen_b = _observe(bare, image, hole_mask)
    assert out_w.tobytes() == out_b.tobytes()
    curve_w = [(it, o.tobytes(), s["loss"]) for it, o, s, label in seen_w if label is None]
    assert curve_w == [(it, o.tobytes(), s["loss"]) for it, o, s, label in seen_b if label is None]
    assert {label for *_, label in seen_w} > {None} and {label for *_, label in seen_b} == {None}


def test_no_rule_sees_the_clean_image(smooth_image, hole_mask):
    """Whatever lies under the holes of the method's input, every rule chooses the same step and image."""
    noise = np.random.default_rng(3).random(smooth_image.shape).astype(np.float32)
    runs = []
    for fill in (np.zeros_like(smooth_image), noise):
        image = np.where(hole_mask[..., None], smooth_image, fill).astype(np.float32)
        _, _, seen = _observe(_tiny(iterations=150, preset="text-holdout"), image, hole_mask)
        runs.append({label: (it, output.tobytes(), stats) for it, output, stats, label in seen if label})
    assert runs[0] == runs[1] and set(runs[0]) == {"es-wmv", "es-emv", "welford", "holdout"}


def test_holdout_leaves_its_pixels_out_of_the_loss(smooth_image, hole_mask):
    """The held-out fit equals a plain fit whose mask lacks the held-out pixels; the split is seeded."""
    image = smooth_image * hole_mask[..., None]
    method = _tiny(iterations=20, preset="text-holdout")
    problem = method.prepare(image, hole_mask)
    held = problem.held
    assert held is not None and torch.equal(held, method.prepare(image, hole_mask).held)
    known = int(problem.mask.sum())
    assert 0.05 * known < int(held.sum()) < 0.15 * known and not bool((held * (1 - problem.mask)).any())
    out, _ = method(image, hole_mask)
    plain = _tiny(iterations=20)
    reduced = hole_mask & ~held[0, 0].bool().numpy()
    out_plain, _ = plain(image, reduced)
    assert out.tobytes() == out_plain.tobytes()


def test_replayed_fit_reports_each_rule_once_with_its_stop():
    outputs = synthetic_outputs(600)
    expected = emulate(outputs)
    config = FitConfig(iterations=len(outputs), sigma_p=0.0, every=7, wmv_window=10, wmv_patience=PATIENCE,
                       emv_patience=PATIENCE, welford_patience=PATIENCE)
    shown = []
    fit_dip(Replay(outputs), torch.zeros(1, 1, 8, 8), torch.full((1, 3, 8, 8), 0.5), torch.ones(1, 1, 8, 8), config,
            torch.Generator(), observe=lambda it, out, stats, label: label and shown.append((label, it, stats)))
    assert [(label, it, stats["stop_iteration"]) for label, it, stats in shown] == [
        (label, best, stop) for label, (best, stop) in expected.items()]


def test_harness_scores_every_rule_against_fixed_and_oracle(smooth_image, hole_mask):
    monitor = metrics.Monitor(smooth_image, hole_mask)
    method = _tiny(iterations=160, every=5, preset="text-holdout")
    output, record = call_method(method, smooth_image * hole_mask[..., None], hole_mask, monitor)
    row = metrics.score(smooth_image, composite(output, smooth_image, hole_mask), hole_mask)
    summary = stopping.summarise(monitor, row, record["iterations"])
    assert list(summary) == ["fixed", "oracle", "es-wmv", "es-emv", "welford", "holdout"]
    assert summary["fixed"]["psnr_hole"] == round(row["psnr_hole"], 4) and summary["fixed"]["saved_iters"] == 0
    assert summary["oracle"]["gap_db"] == 0 and summary["oracle"]["psnr_hole"] >= max(
        round(p["psnr_hole"], 4) for p in monitor.curve) - 0.01
    for label, fields in summary.items():
        assert fields["saved_iters"] == 159 - fields["stop"] and fields["iter"] <= fields["stop"] <= 159
        assert fields["gap_db"] == pytest.approx(summary["oracle"]["psnr_hole"] - fields["psnr_hole"], abs=2e-4)
        scored = monitor.stops.get(label)
        if scored:
            assert fields["psnr_hole"] == round(scored["psnr_hole"], 4)
    cols = stopping.columns(summary, 0.5)
    assert stopping.parse(cols["stopping"]) == json.loads(json.dumps(summary))
    assert json.loads(cols["stopping_saved_s"])["es-wmv"] == pytest.approx(summary["es-wmv"]["saved_iters"] * 0.5)


def test_monitor_refuses_bad_stop_stats(smooth_image, hole_mask):
    monitor = metrics.Monitor(smooth_image, hole_mask)
    with pytest.raises(metrics.ContractError, match="stop_iteration"):
        monitor(10, smooth_image, {"stop_iteration": 5.0, "stopped": 1.0}, "es-emv")
    with pytest.raises(metrics.ContractError, match="unknown"):
        monitor(10, smooth_image, {}, "oracle")


def test_report_has_a_stopping_table_and_figure(tmp_path):
    from dip_bench.bench.report import write_report
    from dip_bench.bench.results import append_row

    rng = np.random.default_rng(0)
    gaps = []
    for image in ("a", "b", "c"):
        peak = float(rng.uniform(20, 30))
        gap = float(rng.uniform(0, 2))
        gaps.append(gap)
        summary = {"fixed": {"iter": 99, "stop": 99, "stopped": False, "psnr_hole": peak - 0.3, "ssim_hole": 0.5,
                             "gap_db": 0.3, "saved_iters": 0},
                   "oracle": {"iter": 40, "stop": 40, "stopped": True, "psnr_hole": peak, "ssim_hole": 0.6,
                              "gap_db": 0.0, "saved_iters": 59},
                   "es-emv": {"iter": 50, "stop": 79, "stopped": True, "psnr_hole": peak - gap, "ssim_hole": 0.5,
                              "gap_db": gap, "saved_iters": 20}}
        row = {"method": "dip-skip", "preset": "text", "image": image, "mask": "text", "seed": 0, "size": "32x32",
               "hole_ratio": 0.1, "status": "ok", "device": "cpu", "params": "{}", "iterations": 100, "seconds": 10.0,
               "seconds_per_iter": 0.1, "psnr": 30.0, "ssim": 0.9, "psnr_hole": peak - 0.3, "ssim_hole": 0.5,
               "output": f"outputs/{image}.png", **stopping.columns(summary, 0.1)}
        curve = [{"iteration": i, "loss": 0.01, "psnr": 25.0, "psnr_hole": peak - abs(i - 40) / 10}
                 for i in range(0, 100, 10)]
        append_row(tmp_path, row, curve)
    text = write_report(tmp_path).read_text()
    section = text[text.index("## When to stop"):]
    assert "dip-skip[text]" in section and "es-emv" in section and "oracle" in section
    assert f"{np.mean(gaps):.2f} [" in section and "0.20" in section  # mean gap; 20 of 100 iterations saved
    assert "Seconds to within 0.5 dB of the peak: 4.1 s" in section  # first point within 0.5 dB: 40 → 41 · 0.1 s
    assert (tmp_path / "figures" / "stopping.png").stat().st_size > 0
