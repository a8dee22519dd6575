"""The DIP fitting loop (Ulyanov et al. 2018, Algorithm of Sec. 3; official inpainting.ipynb ``closure``).

Adam on the weights of ``net`` minimises the masked MSE ``mean(((net(z') - x̂) * m)²)`` over all C·H·W values, with
m = 1 on known pixels and z' the input perturbed every step. Only the function below knows the loop; the
``Inpainter`` in ``dip.inpainter`` prepares tensors and calls it.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn

from dip_bench.contract import UserError

PRECISIONS = ("fp32", "tf32", "bf16")
PERTURBATIONS = ("fixed", "cumulative")
EARLY_STOPS = ("wmv", "wmv-monitor")


@dataclass(frozen=True)
class FitConfig:
    """Settings of one fit.

    ``perturbation``: ``fixed`` draws z' = z + σp·N(0, 1) afresh each step (official code); ``cumulative`` walks
    z ← z + σp·N(0, 1) (DL59/ImPrior). ``every``: interval of the callback, of the loss read-out and of the divergence
    guard, which restores the last good weights when the loss is not finite or the masked PSNR drops by more than
    ``guard_drop_db`` (official restoration.ipynb: 5 dB); ``None`` disables it. ``ema``: weight of the exponential
    moving average of outputs (official denoising: 0.99); when set, the average is the result.
    ``early_stop``: ``wmv`` is ES-WMV (Wang et al. 2021): the running variance of the last ``wmv_window`` outputs,
    stopping ``wmv_patience`` steps after its last new minimum and returning the minimum-variance iterate;
    ``wmv-monitor`` records that choice but fits to the end (to compare final, oracle and ES iterates).
    """

    iterations: int
    lr: float = 0.01
    sigma_p: float = 1 / 30
    perturbation: str = "fixed"
    ema: float | None = None
    every: int = 50
    guard_drop_db: float | None = 5.0
    precision: str = "fp32"
    early_stop: str | None = None
    wmv_window: int = 100
    wmv_patience: int = 1000

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise UserError(f"iterations must be at least 1, got {self.iterations}")
        if self.perturbation not in PERTURBATIONS:
            raise UserError(f"unknown perturbation {self.perturbation!r}: choose one of {', '.join(PERTURBATIONS)}")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.early_stop is not None and self.early_stop not in EARLY_STOPS:
            raise UserError(f"unknown early stop {self.early_stop!r}: choose one of {', '.join(EARLY_STOPS)}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise UserError(f"ema must lie in (0, 1), got {self.ema}")


@dataclass
class FitResult:
    """``output``: (1, C, H, W) in [0, 1], the final ``net(z)`` (or the EMA). ``curve``: one dict per check with
    ``iteration``, ``loss`` and, given a reference, ``psnr`` of that step's output. ``seconds_per_iter`` excludes the
    warm-up iterations."""

    output: torch.Tensor
    iterations: int
    seconds: float
    seconds_per_iter: float
    curve: list[dict[str, float]] = field(default_factory=list)
    restores: list[int] = field(default_factory=list)
    early_stop: dict[str, float] = field(default_factory=dict)


class WindowedVariance:
    """ES-WMV state on the outputs' device: a ring buffer of the last W outputs, the minimum of their mean per-pixel
    variance, its iteration and its output. ``update`` never synchronises with the host."""

    def __init__(self, window: int, like: torch.Tensor) -> None:
        self.window = window
        self.buffer = torch.zeros((window, *like.shape[1:]), device=like.device)
        self.count = 0
        self.min_variance = torch.full((), math.inf, device=like.device)
        self.min_iteration = torch.full((), -1, dtype=torch.long, device=like.device)
        self.best = torch.zeros_like(like)

    def update(self, iteration: int, output: torch.Tensor) -> None:
        self.buffer[self.count % self.window] = output[0]
        self.count += 1
        if self.count < self.window:
            return
        variance = self.buffer.var(dim=0, unbiased=False).mean()
        better = variance < self.min_variance
        self.min_variance = torch.where(better, variance, self.min_variance)
        self.min_iteration = torch.where(better, torch.full_like(self.min_iteration, iteration), self.min_iteration)
        self.best = torch.where(better, output, self.best)


@contextmanager
def precision_mode(precision: str, device: torch.device) -> Iterator[None]:
    """fp32 = IEEE fp32 everywhere (cuDNN would default to TF32); tf32 = TF32 convs and matmuls; bf16 = autocast."""
    if device.type != "cuda":
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
        with ctx:
            yield
        return
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    saved = (conv.fp32_precision, matmul.fp32_precision)
    mode = "ieee" if precision == "fp32" else "tf32"
    conv.fp32_precision = matmul.fp32_precision = mode
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16) if precision == "bf16" else nullcontext():
            yield
    finally:
        conv.fp32_precision, matmul.fp32_precision = saved


def _psnr(output: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB (data range 1) of the top-left h x w of ``output`` against ``reference`` (1, C, h, w)."""
    h, w = reference.shape[-2:]
    mse = float(torch.mean((output[..., :h, :w].float() - reference.float()) ** 2))
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


class _Timer:
    """Wall time between ``start`` and ``stop``: CUDA events on GPU, ``perf_counter`` on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.begin, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self.begin.record() if self.cuda else setattr(self, "t0", time.perf_counter())

    def stop(self) -> float:
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            return self.begin.elapsed_time(self.end) / 1000.0
        return time.perf_counter() - self.t0


class FitStep:
    """One DIP iteration as a callable: perturb z, forward, masked loss, backward, Adam step.

    Shapes: ``z`` (1, Cz, H, W); ``target`` (1, C, H, W) in [0, 1]; ``mask`` (1, 1, H, W) with 1 = known,
    0 = hole; all on the net's device; ``generator`` (same device) draws the perturbations. Calling it returns the
    loss (a 0-d tensor, not synchronised) and that step's output (1, C, H, W). The profiler times exactly this.
    """

    def __init__(self, net: nn.Module, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 config: FitConfig, generator: torch.Generator) -> None:
        self.net, self.target, self.mask, self.config, self.generator = net, target, mask, config, generator
        self.optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
        self.z_base = z.detach().clone()
        self.z_walk = self.z_base.clone()
        self.noise = torch.empty_like(self.z_base)

    def perturbed_input(self) -> torch.Tensor:
        """z' for this step: z + σp·ε (fixed) or the random walk z ← z + σp·ε (cumulative)."""
        config = self.config
        if config.sigma_p <= 0:
            return self.z_base
        self.noise.normal_(generator=self.generator)
        if config.perturbation == "fixed":
            return self.z_base + config.sigma_p * self.noise
        return self.z_walk.add_(self.noise, alpha=config.sigma_p)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        z_in = self.perturbed_input()
        self.optimiser.zero_grad(set_to_none=True)
        out = self.net(z_in).float()
        loss = ((out - self.target) * self.mask).square().mean()
        loss.backward()
        self.optimiser.step()
        return loss.detach(), out.detach()

    @torch.no_grad()
    def final_output(self) -> torch.Tensor:
        """net(z) without perturbation (the official result), or at the walk's current z (cumulative)."""
        return self.net(self.z_base if self.config.perturbation == "fixed" else self.z_walk).float()

    def snapshot(self) -> tuple[list[torch.Tensor], dict]:
        return [p.detach().clone() for p in self.net.parameters()], copy.deepcopy(self.optimiser.state_dict())

    @torch.no_grad()
    def restore(self, saved: tuple[list[torch.Tensor], dict]) -> None:
        for param, value in zip(self.net.parameters(), saved[0]):
            param.copy_(value)
        self.optimiser.load_state_dict(copy.deepcopy(saved[1]))


def fit_dip(
    net: nn.Module,
    z: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    config: FitConfig,
    generator: torch.Generator,
    *,
    reference: torch.Tensor | None = None,
    callback: Callable[[int, Mapping[str, float]], None] | None = None,
) -> FitResult:
    """Fit ``net`` so that ``net(z)`` matches ``target`` on the known pixels (shapes as in ``FitStep``).

    ``reference`` (1, C, h, w), h <= H, w <= W, is compared with the top-left h x w of each checked output (the
    unpadded image) for the PSNR curve; it never enters the loss.
    """
    step = FitStep(net, z, target, mask, config, generator)
    known_fraction = float(mask.mean())
    ema: torch.Tensor | None = None
    curve: list[dict[str, float]] = []
    restores: list[int] = []
    saved: tuple[list[torch.Tensor], dict] | None = None
    last_masked_psnr = -math.inf
    warmup = min(10, config.iterations // 10)
    timer = _Timer(target.device)
    wall_start = time.perf_counter()
    last = config.iterations - 1
    wmv = WindowedVariance(config.wmv_window, target) if config.early_stop else None
    iterations = config.iterations

    with precision_mode(config.precision, target.device):
        for it in range(config.iterations):
            if it == warmup:
                timer.start()
            loss, out = step()
            if wmv is not None:
                wmv.update(it, out)
            if config.ema is not None:
                ema = out.clone() if ema is None else ema.mul_(config.ema).add_(out, alpha=1 - config.ema)
            if it % config.every and it != last:
                continue
            loss_value = float(loss)
            stats = {"iteration": float(it), "loss": loss_value}
            if reference is not None:
                stats["psnr"] = _psnr(out, reference)
            curve.append(stats)
            if config.guard_drop_db is not None:
                finite = math.isfinite(loss_value)
                masked_psnr = -10.0 * math.log10(max(loss_value / known_fraction, 1e-30)) if finite else -math.inf
                if saved is not None and (not finite or masked_psnr < last_masked_psnr - config.guard_drop_db):
                    step.restore(saved)
                    restores.append(it)
                elif finite:
                    saved = step.snapshot()
                    last_masked_psnr = masked_psnr
            if callback is not None:
                callback(it, stats)
            if (config.early_stop == "wmv" and wmv is not None and int(wmv.min_iteration) >= 0
                    and it - int(wmv.min_iteration) >= config.wmv_patience):
                iterations = it + 1
                break
        loop_seconds = timer.stop() if iterations > warmup else math.nan
        final = step.final_output()
    output = ema if ema is not None else final
    early: dict[str, float] = {}
    if wmv is not None and int(wmv.min_iteration) >= 0:
        early = {"es_iter": int(wmv.min_iteration), "es_saved_iters": config.iterations - iterations}
        if reference is not None:
            early["es_psnr"] = _psnr(wmv.best, reference)
        if config.early_stop == "wmv":
            output = wmv.best
    return FitResult(
        output=output.clamp(0, 1),
        iterations=iterations,
        seconds=time.perf_counter() - wall_start,
        seconds_per_iter=loop_seconds / max(iterations - warmup, 1),
        curve=curve,
        restores=restores,
        early_stop=early,
    )
