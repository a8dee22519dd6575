"""The DIP fitting loop (Ulyanov et al. 2018, Sec. 3; official ``inpainting.ipynb`` / ``restoration.ipynb`` closures).

Adam on the weights of ``net`` minimises the masked MSE ``mean((net(z')·m − x̂·m)²)`` over all C·H·W values
(``MSELoss()(out * mask, img * mask)``, as the notebooks write it), with m = 1 on known pixels and z' the input
perturbed every step; ``loss_scale`` s makes m = √s on known pixels, so the loss is s times the masked MSE
(DL59/ImPrior: s = 1/255², its mask is ``convert('1') / 255``; through Adam's eps this changes the fit). Three
optional behaviours of the originals are settings of ``FitConfig``:

- ``final_output``: ``clean`` scores ``net(z)`` after the fit (inpainting.ipynb); ``perturbed`` scores the net's
  output for the *last perturbed* input (restoration.ipynb, whose closure rebinds ``global net_input``);
- ``guard_drop_db``: restoration.ipynb's backtracking (``Backtracking``), off unless set;
- ``early_stop``: ES-WMV (Wang et al. 2021, sun-umn/Early_Stopping_for_DIP ``ES_WMV.ipynb``; ``WindowedVariance``).

Every fit is watched by the stopping rules of ``dip.stopping`` (ES-WMV, ES-EMV, Welford; held-out validation when
pixels are held out): monitors that read each step's output and change no fitted value; after the fit each rule's
chosen iterate is shown to the observer under the rule's label.

``FitStep`` exposes the step's phases (perturb, forward + loss, backward, update) so that the profiler and the FLOP
counter run the same arithmetic; ``StepTimer`` and ``peak_memory`` are the one timing and memory helpers. The loop
never sees the clean image: it shows its outputs to an observer (``Observe``), which the caller owns.
"""
from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from dip_bench.contract import UserError
from dip_bench.dip.stopping import (
    ExponentialVariance,
    HoldoutValidation,
    StopRule,
    WelfordVariance,
    WindowedVariance,
)

PRECISIONS = ("fp32", "tf32", "bf16")
PERTURBATIONS = ("fixed", "cumulative")
EARLY_STOPS = ("wmv", "wmv-monitor")
FINAL_OUTPUTS = ("clean", "perturbed")


@dataclass(frozen=True)
class FitConfig:
    """Settings of one fit.

    ``perturbation``: ``fixed`` draws z' = z + σp·N(0, 1) afresh each step (official code); ``cumulative`` walks
    z ← z + σp·N(0, 1) before each step (DL59/ImPrior adds it after each step: its walk is one step behind ours).
    ``final_output``: ``clean`` = net(z) after the last step (for ``cumulative``: at the walk's current z);
    ``perturbed`` = net(z') for the last step's perturbed input z', with the final weights (restoration.ipynb).
    ``every``: interval of the observer's curve points, of the loss read-out and of the ES-WMV stop-flag read.
    ``guard_drop_db``: restoration.ipynb's backtracking (see ``Backtracking``), checked every ``guard_every`` calls;
    ``None`` (default, as inpainting.ipynb) disables it. ``ema``: weight of the exponential moving average of outputs
    (official denoising: 0.99); when set, the average is the result. ``early_stop``: ``wmv`` is ES-WMV (see
    ``WindowedVariance``), stopping once its flag is up and returning the output at its best iteration;
    ``wmv-monitor`` records that iteration but fits to the end. ``monitors``: watch the fit with every rule of
    ``dip.stopping.MONITORED`` (``emv_*``: ES-EMV's α and patience; ``welford_*``: the handbook's δ and patience;
    ``holdout_patience``: ours, used when ``fit_dip`` is given held-out pixels). ``loss_scale``: factor s > 0 of the masked MSE,
    applied as the mask value √s on known pixels (``loss_weight``; 1 leaves the loss untouched).
    """

    iterations: int
    lr: float = 0.01
    sigma_p: float = 1 / 30
    perturbation: str = "fixed"
    final_output: str = "clean"
    ema: float | None = None
    every: int = 50
    guard_drop_db: float | None = None
    guard_every: int = 50
    precision: str = "fp32"
    early_stop: str | None = None
    wmv_window: int = 100
    wmv_patience: int = 1000
    loss_scale: float = 1.0
    monitors: bool = True
    emv_alpha: float = 0.1
    emv_patience: int = 1000
    welford_delta: float = 0.99
    welford_patience: int = 1000
    holdout_patience: int = 1000

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise UserError(f"iterations must be at least 1, got {self.iterations}")
        if self.perturbation not in PERTURBATIONS:
            raise UserError(f"unknown perturbation {self.perturbation!r}: choose one of {', '.join(PERTURBATIONS)}")
        if self.final_output not in FINAL_OUTPUTS:
            raise UserError(f"unknown final_output {self.final_output!r}: choose one of {', '.join(FINAL_OUTPUTS)}")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.early_stop is not None and self.early_stop not in EARLY_STOPS:
            raise UserError(f"unknown early stop {self.early_stop!r}: choose one of {', '.join(EARLY_STOPS)}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise UserError(f"ema must lie in (0, 1), got {self.ema}")
        for name in ("every", "guard_every", "wmv_window", "wmv_patience", "emv_patience", "welford_patience",
                     "holdout_patience"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise UserError(f"lr must be a finite number >= 0, got {self.lr}")
        if not (math.isfinite(self.sigma_p) and self.sigma_p >= 0):
            raise UserError(f"sigma_p must be a finite number >= 0, got {self.sigma_p}")
        if not (math.isfinite(self.loss_scale) and self.loss_scale > 0):
            raise UserError(f"loss_scale must be a finite number > 0, got {self.loss_scale}")
        if not 0.0 < self.emv_alpha < 1.0:
            raise UserError(f"emv_alpha must lie in (0, 1), got {self.emv_alpha}")
        if not 0.0 < self.welford_delta <= 1.0:
            raise UserError(f"welford_delta must lie in (0, 1], got {self.welford_delta}")
        if self.guard_drop_db is not None and not self.guard_drop_db > 0:
            raise UserError(f"guard_drop_db must be positive (dB), got {self.guard_drop_db}")


@dataclass
class FitResult:
    """``output``: (1, C, H, W) in [0, 1], the final output (see ``FitConfig.final_output``), the EMA, or the ES-WMV
    iterate. ``curve``: one dict per check with ``iteration`` and ``loss`` of that step. ``restore_iters``: the
    steps at which the backtracking fell back. ``seconds_per_iter`` excludes the warm-up iterations."""

    output: torch.Tensor
    iterations: int
    seconds: float
    seconds_per_iter: float
    curve: list[dict[str, float]] = field(default_factory=list)
    restore_iters: list[int] = field(default_factory=list)
    early_stop: dict[str, float] = field(default_factory=dict)


class Backtracking:
    """restoration.ipynb's fall-back, called after ``backward()`` and before the optimiser step of every step.

    The closure keeps its own call counter; on every ``every``-th call it computes the masked PSNR of this step's
    output, ``−10·log10(loss)`` (the loss is the MSE over all values of ``out·m`` against ``x̂·m``, which is what
    the notebook's ``compare_psnr(img_masked, out·m)`` measures). If it fell more than ``drop_db`` below the last
    checkpoint's, the parameters (only: Adam's moments are kept) are copied back from the checkpoint, the step still
    runs with the gradients already computed, and the counter does not advance, so the next step is checked again.
    Otherwise the checkpoint (parameters and masked PSNR) is refreshed and the counter advances. The first
    checkpoint's PSNR starts at 0 dB, as in the notebook. One difference: a non-finite loss counts as a fall (the
    notebook's comparison is False for NaN, so it would checkpoint NaN weights).
    """

    def __init__(self, net: nn.Module, drop_db: float, every: int) -> None:
        self.params = [p for p in net.parameters()]
        self.drop_db, self.every = drop_db, every
        self.calls = 0
        self.saved: list[torch.Tensor] | None = None
        self.last_psnr = 0.0
        self.restore_iters: list[int] = []

    @torch.no_grad()
    def __call__(self, iteration: int, loss: torch.Tensor) -> None:
        if self.calls % self.every:
            self.calls += 1
            return
        value = float(loss)
        psnr = -10.0 * math.log10(value) if value > 0 else math.inf
        if not math.isfinite(value) or psnr - self.last_psnr < -self.drop_db:
            if self.saved is not None:
                for param, saved in zip(self.params, self.saved):
                    param.copy_(saved)
                self.restore_iters.append(iteration)
                return
        else:
            self.saved = [p.detach().clone() for p in self.params]
            self.last_psnr = psnr
        self.calls += 1


def _set_cuda_tf32(enabled: bool) -> Callable[[], None]:
    """Switch TF32 for cuDNN convolutions and CUDA matmuls; return a function that restores the previous settings.

    torch >= 2.9 has ``torch.backends.cudnn.conv.fp32_precision`` ('ieee' | 'tf32'); older releases the
    ``allow_tf32`` flags."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        matmul = torch.backends.cuda.matmul
        saved = (conv.fp32_precision, matmul.fp32_precision)
        conv.fp32_precision = matmul.fp32_precision = "tf32" if enabled else "ieee"

        def restore() -> None:
            conv.fp32_precision, matmul.fp32_precision = saved
    else:
        old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled

        def restore() -> None:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old
    return restore


@contextmanager
def precision_mode(precision: str, device: torch.device) -> Iterator[None]:
    """fp32 = IEEE fp32 everywhere (cuDNN would default to TF32); tf32 = TF32 convs and matmuls; bf16 = autocast."""
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    if device.type != "cuda":
        with autocast:
            yield
        return
    restore = _set_cuda_tf32(precision != "fp32")
    try:
        with autocast:
            yield
    finally:
        restore()


#: ``observe(iteration, output (1, C, H, W), stats, label)``: see ``dip_bench.contract.Observer`` (tensors here)
Observe = Callable[[int, torch.Tensor, Mapping[str, float], "str | None"], None]


def loss_weight(mask: torch.Tensor, loss_scale: float) -> torch.Tensor:
    """The mask as it enters the loss: ``mask`` itself for a scale of 1, else ``mask · √loss_scale`` (so that
    ``mse(out·w, x̂·w)`` = loss_scale · masked MSE, computed as DL59/ImPrior computes it with w = 1/255)."""
    return mask if loss_scale == 1.0 else mask * math.sqrt(loss_scale)


class StepTimer:
    """Wall time of spans of device work, ``start()`` ... ``stop()``, any number of them: CUDA events on GPU (no
    synchronisation until ``seconds``), ``time.perf_counter`` on CPU (where every op has finished when it returns).
    The fit times its loop as one span; the profiler times each iteration as its own span."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.spans: list[tuple[object, object]] = []
        self.begin: object = None

    def _now(self) -> object:
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def start(self) -> None:
        self.begin = self._now()

    def stop(self) -> None:
        self.spans.append((self.begin, self._now()))

    def seconds(self) -> list[float]:
        """Each span's seconds, in order (on GPU: one synchronisation, with the last span's end)."""
        if not self.cuda:
            return [end - begin for begin, end in self.spans]  # type: ignore[operator]
        if self.spans:
            self.spans[-1][1].synchronize()  # type: ignore[attr-defined]
        return [begin.elapsed_time(end) / 1000.0 for begin, end in self.spans]  # type: ignore[attr-defined]


def peak_memory(device: torch.device) -> tuple[float, str]:
    """(MiB, what it is): the CUDA allocator's peak since the last reset, or the process's max RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "CUDA allocator peak (torch.cuda.max_memory_allocated)"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process max RSS so far: CPU, whole process"


class FitStep:
    """One DIP iteration, in phases: ``perturbed_input`` → ``forward_loss`` → ``backward`` → ``update``.

    Shapes: ``z`` (1, Cz, H, W); ``target`` (1, C, H, W) in [0, 1]; ``mask`` (1, 1, H, W) with 1 = known,
    0 = hole; all on the net's device; ``generator`` (same device) draws the perturbations (``None`` only when no
    perturbation is drawn, e.g. for counting FLOPs). Calling the step runs the phases and returns the loss (a 0-d
    tensor, not synchronised, scaled by ``config.loss_scale``) and that step's output (1, C, H, W);
    ``after_backward(loss)`` runs between the
    backward pass and the optimiser step (where restoration.ipynb backtracks). The profiler times exactly this.
    """

    def __init__(self, net: nn.Module, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 config: FitConfig, generator: torch.Generator | None) -> None:
        self.net, self.target, self.mask, self.config, self.generator = net, target, mask, config, generator
        self.weight = loss_weight(mask, config.loss_scale)
        self.target_masked = target * self.weight
        self.optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
        self.z_base = z.detach().clone()
        self.z_walk = self.z_base.clone()
        self.noise = torch.empty_like(self.z_base)
        self.last_input = self.z_base

    def perturbed_input(self) -> torch.Tensor:
        """z' for this step: z + σp·ε (fixed) or the random walk z ← z + σp·ε (cumulative); kept as ``last_input``."""
        config = self.config
        if config.sigma_p <= 0:
            return self.z_base
        self.noise.normal_(generator=self.generator)
        if config.perturbation == "fixed":
            self.last_input = self.z_base + self.noise * config.sigma_p
        else:
            self.last_input = self.z_walk.add_(self.noise, alpha=config.sigma_p)
        return self.last_input

    def forward_loss(self, z_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(output (1, C, H, W) float32, masked MSE over all C·H·W values, times the loss scale) for ``z_in``."""
        out = self.net(z_in).float()
        return out, F.mse_loss(out * self.weight, self.target_masked)

    def backward(self, loss: torch.Tensor) -> None:
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()

    def update(self) -> None:
        self.optimiser.step()

    def __call__(self, after_backward: Callable[[torch.Tensor], None] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        out, loss = self.forward_loss(self.perturbed_input())
        self.backward(loss)
        if after_backward is not None:
            after_backward(loss)
        self.update()
        return loss.detach(), out.detach()

    @torch.no_grad()
    def final_output(self, which: str | None = None) -> torch.Tensor:
        """The fit's result with the current weights (``which`` defaults to ``config.final_output``): ``clean`` =
        net(z) (for a cumulative walk: at its current z), ``perturbed`` = net(last perturbed input)."""
        which = which or self.config.final_output
        if which == "perturbed" or self.config.perturbation == "cumulative":
            return self.net(self.last_input).float()
        return self.net(self.z_base).float()


def make_rules(config: FitConfig, target: torch.Tensor, held: torch.Tensor | None) -> list[StopRule]:
    """The stopping rules that watch a fit (``dip.stopping``): every monitored rule when ``config.monitors``, ES-WMV
    whenever ``config.early_stop`` asks for it, held-out validation when ``held`` is given."""
    rules: list[StopRule] = []
    if config.monitors or config.early_stop:
        rules.append(WindowedVariance(config.wmv_window, config.wmv_patience, target))
    if config.monitors:
        rules.append(ExponentialVariance(config.emv_alpha, config.emv_patience, target))
        rules.append(WelfordVariance(config.welford_delta, config.welford_patience, target))
    if held is not None:
        rules.append(HoldoutValidation(held, target, config.holdout_patience))
    return rules


def fit_dip(
    net: nn.Module,
    z: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    config: FitConfig,
    generator: torch.Generator,
    *,
    observe: Observe | None = None,
    holdout: torch.Tensor | None = None,
) -> FitResult:
    """Fit ``net`` so that ``net(z)`` matches ``target`` on the known pixels (shapes as in ``FitStep``).

    ``holdout`` (1, 1, H, W), 1 on known pixels left out of the loss and scored by held-out validation
    (``dip.stopping.holdout_split``). ``observe`` is shown each checked step's output (1, C, H, W) with
    ``{"loss": ...}`` (label None) and, after the fit, each stopping rule's chosen iterate (label = the rule's,
    its iteration, stats ``{"stop_iteration", "stopped"}``; a rule that never scored shows nothing).
    """
    if holdout is not None:
        mask = mask * (1 - holdout)
    step = FitStep(net, z, target, mask, config, generator)
    guard = Backtracking(net, config.guard_drop_db, config.guard_every) if config.guard_drop_db else None
    rules = make_rules(config, target, holdout)
    wmv = next((rule for rule in rules if isinstance(rule, WindowedVariance)), None)
    ema: torch.Tensor | None = None
    curve: list[dict[str, float]] = []
    warmup = min(10, config.iterations // 10)
    timer = StepTimer(target.device)
    wall_start = time.perf_counter()
    last = config.iterations - 1
    iterations = config.iterations

    with precision_mode(config.precision, target.device):
        for it in range(config.iterations):
            if it == warmup:
                timer.start()
            loss, out = step(None if guard is None else lambda value, it=it: guard(it, value))
            for rule in rules:
                rule.update(it, out)
            if config.ema is not None:
                ema = out.clone() if ema is None else ema.mul_(config.ema).add_(out, alpha=1 - config.ema)
            if it % config.every and it != last:
                continue
            stats = {"loss": float(loss)}
            curve.append({"iteration": it, **stats})
            if observe is not None:
                observe(it, out, stats, None)
            if config.early_stop == "wmv" and wmv is not None and bool(wmv.stopped):
                iterations = it + 1
                break
        if iterations > warmup:
            timer.stop()
        loop_seconds = timer.seconds()[0] if iterations > warmup else math.nan
        final = step.final_output()
    output = ema if ema is not None else final
    early: dict[str, float] = {}
    for rule in rules:
        chosen = rule.report(iterations - 1)
        if chosen is None:
            continue
        if observe is not None:
            observe(chosen[0], chosen[1], chosen[2], rule.label)
        if rule is wmv:
            early = {"es_iter": chosen[0], "es_saved_iters": config.iterations - iterations}
            if chosen[2]["stopped"]:
                early["es_stop_iter"] = int(chosen[2]["stop_iteration"])
            if config.early_stop == "wmv":
                output = chosen[1]
    return FitResult(
        output=output.clamp(0, 1),
        iterations=iterations,
        seconds=time.perf_counter() - wall_start,
        seconds_per_iter=loop_seconds / max(iterations - warmup, 1),
        curve=curve,
        restore_iters=list(guard.restore_iters) if guard is not None else [],
        early_stop=early,
    )
