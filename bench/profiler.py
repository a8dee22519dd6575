"""Timing of the DIP fitting step: per-iteration times, the forward/backward/optimizer split, FLOPs and memory.

What is timed is the engine's own step (``DIPInpainter.make_step`` → ``dip.fit.FitStep``: perturb z, forward, masked
MSE, backward, Adam step) inside ``dip.fit.precision_mode``, after warm-up iterations. On GPU each iteration is timed
with its own pair of CUDA events and the device is synchronised once, after the loop; on CPU with
``time.perf_counter``, reading the loss each iteration. The split comes from a short ``torch.profiler`` window over
the same arithmetic with ``record_function`` labels and a device synchronisation closing each part, so that a part's
wall time includes its device work. FLOPs are counted analytically with ``torch.utils.flop_counter.FlopCounterMode``
on meta tensors (no arithmetic runs). The method follows kornia's benchmarks/README.md (warm up, repeat, median and
spread, synchronise, write the conditions down) — https://github.com/kornia/kornia.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from dip_bench.bench import metrics
from dip_bench.bench.registry import METHODS, create, get_method
from dip_bench.dip.fit import FitStep, StepTimer, peak_memory, precision_mode
from dip_bench.contract import UserError, resolve_device
from dip_bench.dip.inpainter import DIPInpainter
from dip_bench.dip.nets import count_parameters

#: how ``gflop_per_iter`` is counted (printed and written to the JSON)
FLOP_COUNTING = ("torch.utils.flop_counter.FlopCounterMode over one forward + masked-MSE + backward of the net: "
                 "2 FLOPs per multiply-add of conv/matmul ops, forward and backward; elementwise ops, "
                 "normalisation, upsampling and the Adam step are not counted")
SPLIT_PARTS = ("forward", "backward", "optimizer")
SPLIT_STEPS = 3
SPLIT_METHOD = (f"torch.profiler over {SPLIT_STEPS} steps of FitStep's own phases; record_function ranges closed by "
                "a device synchronisation; forward includes the input perturbation and the masked loss, backward "
                "zero_grad")
IMAGE_NAME = "astronaut"
MASK_KIND = "text"

#: the fast options ``--compare`` tries one at a time against eager fp32
OPTIONS: dict[str, dict[str, Any]] = {
    "fp32": {},
    "tf32": {"precision": "tf32"},
    "bf16": {"precision": "bf16"},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
}
CPU_LEFT_OUT = {
    "tf32": "TF32 is an NVIDIA tensor-core format; on CPU it would be plain fp32",
    "compile": "inductor's CPU backend spends minutes compiling C++ before the first step; GPU only here",
}


@dataclass(frozen=True)
class ProfileSettings:
    """One profiled configuration. ``preset`` None = the net's default preset (``text`` for ``dip-skip``)."""

    method: str = "dip-skip"
    preset: str | None = None
    size: int = 512
    iters: int = 200
    warmup: int = 20
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    seed: int = 0

    def check(self) -> torch.device:
        """Validate the flags that need no net; return the resolved device."""
        spec = get_method(self.method)
        if spec.family != "dip":
            dips = ", ".join(name for name, other in METHODS.items() if other.family == "dip")
            raise UserError(f"profile times the DIP fitting step, and {self.method!r} is a {spec.family} method: "
                             f"choose one of {dips}")
        if self.iters < 1:
            raise UserError(f"--iters must be at least 1, got {self.iters}")
        if self.warmup < 0:
            raise UserError(f"--warmup must be 0 or more, got {self.warmup}")
        if self.size < 1:
            raise UserError(f"--size must be a positive number of pixels, got {self.size}")
        return resolve_device(self.device)


def load_profile_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """The fixed test pair: (image float32 size x size x 3 in [0, 1], mask bool size x size with True = known,
    description). The built-in astronaut and ``text`` mask; at a size the built-in set lacks, the largest built-in
    astronaut resized with OpenCV and the ``text`` mask generated at that size from its built-in seed; a seeded
    synthetic pair when ``datasets`` cannot be imported."""
    try:
        from dip_bench.datasets import RESOLUTIONS, load_builtin_image, load_builtin_mask, make_mask, mask_seed
    except ImportError:
        image, mask = synthetic_pair(size, seed)
        return image, mask, f"synthetic image (seed {seed}; datasets not importable) + dashed-line mask"
    if size in RESOLUTIONS:
        image, mask = load_builtin_image(IMAGE_NAME, size), load_builtin_mask(MASK_KIND, size)
        return image, mask, f"{IMAGE_NAME} + {MASK_KIND} mask (built-in, {size} px)"
    largest = max(RESOLUTIONS)
    interpolation = cv2.INTER_AREA if size < largest else cv2.INTER_CUBIC
    image = np.clip(cv2.resize(load_builtin_image(IMAGE_NAME, largest), (size, size), interpolation=interpolation),
                    0.0, 1.0).astype(np.float32)
    mask = make_mask(MASK_KIND, (size, size), mask_seed(MASK_KIND))
    return image, mask, f"{IMAGE_NAME} (built-in {largest} px resized to {size}) + generated {MASK_KIND} mask"


def min_size(settings: ProfileSettings) -> int:
    """The smallest image side the method's net accepts with this preset (builds the net once)."""
    params = {"preset": settings.preset} if settings.preset is not None else {}
    return create(settings.method, seed=settings.seed, device="cpu", **params).build_net(3).min_size


def synthetic_pair(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth seeded RGB image (sum of random plane waves) and a text-like mask of short dashes on regular rows
    (about 10 % holes); shapes and conventions as in ``load_profile_pair``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    image = np.zeros((size, size, 3), np.float32)
    for channel in range(3):
        for _ in range(4):
            fy, fx = rng.uniform(-6, 6, size=2)
            image[..., channel] += np.sin(2 * np.pi * (fy * yy + fx * xx) + rng.uniform(0, 2 * np.pi))
    image = (image - image.min()) / (image.max() - image.min())
    hole = np.zeros((size, size), bool)
    step = max(size // 8, 4)
    for row in range(step // 2, size - 1, step):
        for col in range(0, size, 12):
            if rng.random() < 0.7:
                hole[row:row + 2, col:col + 8] = True
    return image.astype(np.float32), ~hole


def build_step(settings: ProfileSettings, image: np.ndarray, mask: np.ndarray) -> tuple[DIPInpainter, FitStep]:
    """The method's inpainter and its fitting step for ``image``/``mask`` (a too-small image is a ValueError)."""
    params: dict[str, Any] = {"precision": settings.precision, "channels_last": settings.channels_last,
                              "compile": settings.compile}
    if settings.preset is not None:
        params["preset"] = settings.preset
    inpainter = create(settings.method, seed=settings.seed, device=settings.device, **params)
    return inpainter, inpainter.make_step(image, mask)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: FitStep, device: torch.device, iters: int, warmup: int, desc: str = "profile") -> np.ndarray:
    """Run ``warmup`` untimed then ``iters`` timed steps; return the per-iteration times in ms (shape (iters,)).

    One ``fit.StepTimer`` span per iteration: GPU, CUDA events and a single synchronisation after the loop; CPU,
    ``perf_counter`` around each step, with the loss read (``float``) inside the timed region."""
    cuda = device.type == "cuda"
    times = np.empty(iters)
    with tqdm(total=warmup + iters, desc=desc, unit="it", leave=False, dynamic_ncols=True) as bar:
        for _ in range(warmup):
            loss, _ = step()
            if not cuda:
                float(loss)
            bar.update()
        _sync(device)
        timer = StepTimer(device)
        for _ in range(iters):
            timer.start()
            loss, _ = step()
            if not cuda:
                float(loss)
            timer.stop()
            bar.update()
        times[:] = np.asarray(timer.seconds()) * 1000.0
    return times


def labelled_step(step: FitStep, device: torch.device) -> None:
    """One step through ``FitStep``'s own phases, in ``record_function`` ranges named ``dip-bench/<part>``, each
    closed by a device synchronisation (for the split only; the timed loop calls the step itself)."""
    with torch.autograd.profiler.record_function("dip-bench/forward"):
        _, loss = step.forward_loss(step.perturbed_input())
        _sync(device)
    with torch.autograd.profiler.record_function("dip-bench/backward"):
        step.backward(loss)
        _sync(device)
    with torch.autograd.profiler.record_function("dip-bench/optimizer"):
        step.update()
        _sync(device)


def split_times(step: FitStep, device: torch.device, trace: Path | None = None) -> dict[str, float]:
    """Mean ms per step of each part over ``SPLIT_STEPS`` profiled steps; ``trace`` receives the Chrome trace."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(SPLIT_STEPS):
            labelled_step(step, device)
    if trace is not None:
        Path(trace).parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace))
    totals = dict.fromkeys(SPLIT_PARTS, 0.0)
    for event in prof.events():
        part = event.name.removeprefix("dip-bench/")
        if part in totals and event.name.startswith("dip-bench/"):
            totals[part] += event.cpu_time_total / 1000.0  # µs → ms; device-side copies have cpu time 0
    return {part: total / SPLIT_STEPS for part, total in totals.items()}


def count_flops(inpainter: DIPInpainter, step: FitStep) -> float:
    """FLOPs of one forward + masked loss + backward (``FitStep.forward_loss`` and ``backward``) of ``inpainter``'s
    net at the step's (padded) shapes, counted on meta tensors (see ``FLOP_COUNTING``)."""
    net = inpainter.build_net(step.target.shape[1]).to("meta")
    meta = FitStep(net, torch.empty(step.z_base.shape, device="meta"), torch.empty(step.target.shape, device="meta"),
                   torch.empty(step.mask.shape, device="meta"), step.config, generator=None)
    with FlopCounterMode(display=False) as counter:
        _, loss = meta.forward_loss(meta.z_base)
        meta.backward(loss)
    return float(counter.get_total_flops())


def profile(settings: ProfileSettings, image: np.ndarray, mask: np.ndarray, *, trace: Path | None = None,
            desc: str = "profile") -> dict[str, Any]:
    """Profile one configuration on ``image`` (H x W x C float32 in [0, 1]) / ``mask`` (H x W bool, True = known).

    Order: warm-up + timed steps, the PSNR of ``final_output()`` (after warm-up + iters steps) against ``image``,
    then the split window (and trace), then the FLOP count. Returns one flat record (see the module docstring)."""
    device = settings.check()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    inpainter, step = build_step(settings, image, mask)
    h, w = image.shape[:2]
    with precision_mode(settings.precision, device):
        times = time_steps(step, device, settings.iters, settings.warmup, desc)
        memory_mb, memory_kind = peak_memory(device)
        output = step.final_output().clamp(0, 1)[0, :, :h, :w].permute(1, 2, 0).cpu().numpy()
        split = split_times(step, device, trace)
    flops = count_flops(inpainter, step)
    median = float(np.median(times))
    q25, q75 = np.percentile(times, [25, 75])
    return {
        "method": settings.method,
        "net": inpainter.net_name,
        "preset": inpainter.preset.name,
        "parameters": count_parameters(step.net),
        "size": settings.size,
        "padded_size": list(step.target.shape[-2:]),
        "device": str(device),
        "precision": settings.precision,
        "channels_last": settings.channels_last,
        "compile": settings.compile,
        "seed": settings.seed,
        "iterations": settings.iters,
        "warmup": settings.warmup,
        "ms_per_iter_median": median,
        "ms_per_iter_iqr": float(q75 - q25),
        "ms_per_iter_min": float(times.min()),
        "ms_per_iter_q25": float(q25),
        "ms_per_iter_q75": float(q75),
        "iters_per_s": 1000.0 / median,
        "gflop_per_iter": flops / 1e9,
        "tflops": flops / (median / 1000.0) / 1e12,
        "flop_counting": FLOP_COUNTING,
        "peak_memory_mb": memory_mb,
        "peak_memory_kind": memory_kind,
        "split_ms": split,
        "split_method": SPLIT_METHOD,
        "psnr_db": metrics.psnr(image.astype(np.float64), output.astype(np.float64)),
        "psnr_after_steps": settings.warmup + settings.iters,
        "ms_per_iter_all": [round(float(t), 4) for t in times],
    }


def compare_options(device: torch.device) -> tuple[list[str], dict[str, str]]:
    """The options ``--compare`` runs on ``device`` (eager fp32 first) and the left-out ones with the reason."""
    left_out = {} if device.type == "cuda" else dict(CPU_LEFT_OUT)
    return [name for name in OPTIONS if name not in left_out], left_out


def compare(settings: ProfileSettings, image: np.ndarray, mask: np.ndarray) -> tuple[list[dict[str, Any]],
                                                                                     dict[str, str]]:
    """Profile eager fp32 and each fast option alone, all from ``settings.seed``; returns (records with an
    ``option`` key, left-out options with reasons). ``settings`` must be the plain eager fp32 configuration."""
    names, left_out = compare_options(settings.check())
    records = []
    for name in names:
        record = profile(dataclasses.replace(settings, **OPTIONS[name]), image, mask, desc=name)
        records.append({"option": name, **record})
    return records, left_out


def compare_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per option: ms/iter median and IQR, speed-up against the ``fp32`` row, TFLOP/s, peak memory, PSNR."""
    base = next(r["ms_per_iter_median"] for r in records if r["option"] == "fp32")
    return pd.DataFrame([{
        "option": r["option"],
        "ms/iter median": r["ms_per_iter_median"],
        "ms/iter IQR": r["ms_per_iter_iqr"],
        "speed-up vs fp32": base / r["ms_per_iter_median"],
        "TFLOP/s": r["tflops"],
        "peak MiB": r["peak_memory_mb"],
        "PSNR dB": r["psnr_db"],
    } for r in records])
