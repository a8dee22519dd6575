"""Stopping rules as monitors of one DIP fit (issue 28): none sees the clean image, none changes a fitted value.

Each rule is fed every step's output (1, C, H, W) — the output of that step's (perturbed) forward pass, before the
optimiser step, as the originals feed theirs — and keeps, on the outputs' device, its best score, the iteration and
output it chose (``best_iteration``, ``best``), a patience counter and a stop flag (``stopped``, with
``stop_iteration``: the step at which it would have stopped). ``update`` never synchronises with the host: the fit
reads a flag every few steps, and the rules' choices once at the end (``StopRule.report``).

- ``es-wmv``: ES-WMV (Wang et al. 2021, sun-umn/Early_Stopping_for_DIP ``ES_WMV.ipynb``; ``WindowedVariance``);
- ``es-emv``: ES-EMV, exponential moving variance (same repository, ``ES_EMV.ipynb``; ``ExponentialVariance``);
- ``welford``: running variance since step 0 with Welford's update (alexdenker/deep-image-prior-handbook
  ``dip/model/callbacks.py`` ``early_stopping_welfords``; ``WelfordVariance``);
- ``holdout``: *ours*, not from a paper's code: validation MSE on a seeded fraction of the known pixels that the loss
  leaves out (``HoldoutValidation``); it needs its own fit (those pixels are lost to the loss).

Defaults are the originals' (patience 1000 for all; WMV window 100; EMV α = 0.1, checks after step 100; Welford
δ = 0.99, checks after step 100). Which output ES-EMV should return is not coded in its notebook: like ES-WMV, ours
chooses the step's output at its best iteration. A rule that never scored (a fit shorter than its start) chooses
nothing; one that scored but never stopped chooses its best so far, and stops at the fixed count.
"""
from __future__ import annotations

import math

import torch

#: the rules every fit monitors (``holdout`` joins them when the fit holds pixels out)
MONITORED = ("es-wmv", "es-emv", "welford")
RULES = (*MONITORED, "holdout")


class StopRule:
    """Shared state: the best score and its step and output, the patience counter, the stop flag (0-d tensors on
    the outputs' device). ``scored``: a Python bool, whether any score has been computed (known without a sync)."""

    label = ""

    def __init__(self, patience: int, like: torch.Tensor) -> None:
        device = like.device
        self.patience = patience
        self.scored = False
        self.best_score = torch.full((), math.inf, dtype=torch.float64, device=device)
        self.best_iteration = torch.zeros((), dtype=torch.long, device=device)
        self.wait = torch.zeros((), dtype=torch.long, device=device)
        self.stopped = torch.zeros((), dtype=torch.bool, device=device)
        self.stop_iteration = torch.full((), -1, dtype=torch.long, device=device)
        self.best: torch.Tensor | None = None

    def _keep(self, iteration: int, output: torch.Tensor, improved: torch.Tensor, score: torch.Tensor) -> None:
        """Take ``output`` as the best where ``improved`` (a 0-d bool tensor, already masked by ``~stopped``)."""
        self.best_score = torch.where(improved, score.double(), self.best_score)
        self.best_iteration.masked_fill_(improved, iteration)
        self.best = output.clone() if self.best is None else torch.where(improved, output, self.best)

    def _halt(self, iteration: int, newly: torch.Tensor) -> None:
        self.stop_iteration.masked_fill_(newly, iteration)
        self.stopped = self.stopped | newly

    def _strict(self, iteration: int, output: torch.Tensor, score: torch.Tensor) -> None:
        """The ES-WMV/ES-EMV/Self-Validation patience rule: a score strictly below the best takes its place and resets
        the counter; otherwise the counter grows, and the flag rises when it reaches the patience."""
        active = ~self.stopped
        improved = active & (score.double() < self.best_score)
        self._keep(iteration, output, improved, score)
        self.wait = torch.where(improved, torch.zeros_like(self.wait), self.wait + active.long())
        self._halt(iteration, active & (self.wait >= self.patience))

    def update(self, iteration: int, output: torch.Tensor) -> None:
        raise NotImplementedError

    def report(self, last_iteration: int) -> tuple[int, torch.Tensor, dict[str, float]] | None:
        """(chosen iteration, chosen output (1, C, H, W), ``{"stop_iteration", "stopped"}``) or None when the rule
        never scored. ``stop_iteration`` is where the fit would have ended: the flag's step, else ``last_iteration``.
        Synchronises (call once, after the fit)."""
        if not self.scored or self.best is None:
            return None
        stopped = bool(self.stopped)
        stop = int(self.stop_iteration) if stopped else last_iteration
        return int(self.best_iteration), self.best, {"stop_iteration": float(stop), "stopped": float(stopped)}


class WindowedVariance(StopRule):
    """ES-WMV (Wang et al. 2021; the official ``ES_WMV.ipynb`` rule).

    Every iteration t: append the output to a window of the last W; once W are held, the score is
    ``mean_k(sum((mean_window − x_k)²) / x.size)``. A score strictly below the best sets ``best_iteration = t``, keeps
    that output and resets a counter; otherwise the counter grows, and the stop flag rises when it reaches the
    patience P. Once the flag is up nothing moves any more (the official code stops calling its check). Before any
    score, the best iteration is 0 (the official initial value).
    """

    label = "es-wmv"

    def __init__(self, window: int, patience: int, like: torch.Tensor) -> None:
        super().__init__(patience, like)
        self.window = window
        self.buffer = torch.zeros((window, *like.shape[1:]), device=like.device)
        self.count = 0

    def update(self, iteration: int, output: torch.Tensor) -> None:
        """Add ``output`` (1, C, H, W), the output of step ``iteration`` (of the perturbed input)."""
        output = output.detach().float()
        if self.best is None:
            self.best = output.clone()
        self.buffer[self.count % self.window] = output[0]
        self.count += 1
        if self.count < self.window:
            return
        self.scored = True
        mean = self.buffer.mean(dim=0, keepdim=True)
        score = (self.buffer - mean).square().flatten(1).sum(dim=1).div(output[0].numel()).mean()
        active = ~self.stopped
        improved = active & (score < self.best_score)
        self._keep(iteration, output, improved, score)
        self.wait = torch.where(improved, torch.zeros_like(self.wait), self.wait + active.long())
        self._halt(iteration, active & (self.wait >= self.patience))


class ExponentialVariance(StopRule):
    """ES-EMV (``ES_EMV.ipynb``, class ``EWMVar`` and its closure).

    Step 0: EMA = x, EMV = 0. Step t > 0: δ = x − EMA (the old EMA); EMA ← clip(EMA + α·δ, 0, 1);
    EMV ← (1 − α)·(EMV + α·‖δ‖²) (squared norm summed over all values). Only for t > ``start_after`` (100) and while
    not stopped: the strict-improvement / patience rule on EMV."""

    label = "es-emv"

    def __init__(self, alpha: float, patience: int, like: torch.Tensor, start_after: int = 100) -> None:
        super().__init__(patience, like)
        self.alpha, self.start_after = alpha, start_after
        self.ema: torch.Tensor | None = None
        self.emv = torch.zeros((), dtype=torch.float64, device=like.device)

    def update(self, iteration: int, output: torch.Tensor) -> None:
        output = output.detach().float()
        if self.ema is None:
            self.ema = output.clone()
        else:
            delta = output - self.ema
            self.ema = (self.ema + self.alpha * delta).clamp_(0, 1)
            self.emv = (1 - self.alpha) * (self.emv + self.alpha * delta.double().square().sum())
        if iteration > self.start_after:
            self.scored = True
            self._strict(iteration, output, self.emv)


class WelfordVariance(StopRule):
    """Running variance since step 0 by Welford's update (the handbook's ``early_stopping_welfords``).

    Every step: n += 1; d = x − mean; mean += d / n; M2 += d·(x − mean); g = mean over values of M2 / n. Only for
    t > ``start_after`` (100) and while not stopped: g < δ·g_min (g_min starts at ∞) takes g as the minimum and t as
    its step i_min (i_min starts at 0); the flag rises when t >= i_min + patience. Mean and M2 are float32, as the
    handbook's numpy arrays (its outputs are float32)."""

    label = "welford"

    def __init__(self, delta: float, patience: int, like: torch.Tensor, start_after: int = 100) -> None:
        super().__init__(patience, like)
        self.delta, self.start_after = delta, start_after
        self.n = 0
        self.mean = torch.zeros(like.shape[1:], device=like.device)
        self.m2 = torch.zeros(like.shape[1:], device=like.device)

    def update(self, iteration: int, output: torch.Tensor) -> None:
        output = output.detach().float()
        x = output[0]
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)
        if iteration <= self.start_after:
            return
        self.scored = True
        g = (self.m2 / self.n).mean().double()
        active = ~self.stopped
        improved = active & (g < self.delta * self.best_score)
        self._keep(iteration, output, improved, g)
        self._halt(iteration, active & (iteration >= self.best_iteration + self.patience))


class HoldoutValidation(StopRule):
    """Ours: validation on held-out known pixels. ``held`` (1, 1, H, W) is 1 on the known pixels that the loss leaves
    out; the score of step t is the MSE of its output against ``target`` over those pixels (all channels), with the
    strict-improvement / patience rule from step 0."""

    label = "holdout"

    def __init__(self, held: torch.Tensor, target: torch.Tensor, patience: int) -> None:
        super().__init__(patience, target)
        self.held, self.target = held, target
        self.count = float(held.sum()) * target.shape[1]

    def update(self, iteration: int, output: torch.Tensor) -> None:
        output = output.detach().float()
        self.scored = True
        score = ((output - self.target) * self.held).square().sum() / self.count
        self._strict(iteration, output, score)


def holdout_split(known: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """(1, 1, H, W) float 1/0: a seeded ``fraction`` of the known pixels (``known`` 1 = known), each drawn
    independently (U(0, 1) < fraction); at least one known pixel stays in the loss."""
    draw = torch.rand(known.shape, generator=generator, device=generator.device)
    held = (known > 0) & (draw.to(known.device) < fraction)
    if bool(held.sum() >= (known > 0).sum()):
        raise ValueError("the held-out fraction leaves no known pixel for the loss: lower holdout")
    return held.to(known.dtype)
