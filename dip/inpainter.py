"""``DIPInpainter``: one DIP fit per image behind the common call shape (``dip_bench.contract``).

Boundary: image float32 H x W x C in [0, 1] (C = 1 or 3), mask bool H x W with True = known. The image is
reflect-padded at the bottom/right to the multiple the net needs (padded pixels count as holes, so they never enter
the loss) and the output is cropped back, so no pixel is lost; a preset with ``fit_size = "native"`` fits at the
image's own size instead whenever the net maps that size to itself (restoration.ipynb's 514 x 514 barbara). The
returned image is the raw network output (the DIP papers' protocol); known pixels are *not* pasted back here. Along
the fit, the caller's observer (``dip_bench.contract.Observer``) is shown the unpadded raw output at every checked
step and the ES-WMV iterate; the clean image never comes in.
"""
from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from dip_bench.contract import Observer, UserError, check_image_mask, resolve_device
from dip_bench.dip.fit import FitConfig, FitStep, Observe, fit_dip, peak_memory
from dip_bench.dip.inputs import make_input
from dip_bench.dip.nets import NETS, count_parameters
from dip_bench.dip.presets import get_preset
from dip_bench.dip.stopping import holdout_split

#: the preset each net uses when none is given
DEFAULT_PRESETS = {
    "skip": "text",
    "encdec": "gerardtho",
    "encdec-skip": "gerardtho",
    "encdec-res": "gerardtho",
    "bicubic": "imprior",
}


@dataclass(frozen=True)
class _Problem:
    """One prepared image: tensors on the device, padded to the net's multiple; ``size`` is the unpadded (H, W)."""

    net: torch.nn.Module
    run_net: Callable[[torch.Tensor], torch.Tensor]
    z: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    generator: torch.Generator
    size: tuple[int, int]
    held: torch.Tensor | None = None


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """H x W x C numpy → (1, C, H, W) tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)


def _to_numpy(output: torch.Tensor, h: int, w: int) -> np.ndarray:
    """(1, C, H', W') tensor → its top-left h x w as float32 numpy H x W x C (the unpadded image)."""
    return output[0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy().astype(np.float32)


def _seeds(seed: int) -> tuple[int, int, int]:
    """Three independent seeds (input z, weight init, perturbation stream) derived from one."""
    children = np.random.SeedSequence(seed).generate_state(3)
    return int(children[0]), int(children[1]), int(children[2])


def _holdout_seed(seed: int) -> int:
    """A fourth independent seed (the held-out pixels): the next word of the same stream as ``_seeds``."""
    return int(np.random.SeedSequence(seed).generate_state(4)[3])


class DIPInpainter:
    """Deep Image Prior inpainting with one of the nets in ``dip.nets.NETS``.

    ``preset`` names the fit settings (``dip/presets.toml``); every other keyword overrides one setting of it.
    ``upsample_mode`` overrides the net's upsampling (ablations). ``final_output`` ('clean' | 'perturbed') and
    ``guard`` (restoration.ipynb's backtracking on/off; threshold from the preset, else 5 dB) override the preset's.
    ``holdout`` (a fraction in (0, 1), overriding the preset's) leaves a seeded share of the known pixels out of the
    loss for held-out validation (ours; ``dip.stopping``); ``emv_*``, ``welford_*`` and ``holdout_patience`` set the
    stopping rules that watch every fit (``FitConfig``).
    ``seed`` fixes z, the weight init, the held-out pixels and the perturbation stream: on CPU the same seed gives a byte-identical result
    (for the same CPU instruction set, thread count and versions).
    """

    def __init__(
        self,
        net: str,
        *,
        seed: int = 0,
        device: str = "cpu",
        preset: str | None = None,
        iterations: int | None = None,
        lr: float | None = None,
        sigma_p: float | None = None,
        perturbation: str | None = None,
        input: str | None = None,
        input_channels: int | None = None,
        upsample_mode: str | None = None,
        final_output: str | None = None,
        guard: bool | None = None,
        ema: float | None = None,
        precision: str = "fp32",
        early_stop: str | None = None,
        wmv_window: int = 100,
        wmv_patience: int = 1000,
        channels_last: bool = False,
        compile: bool = False,
        every: int = 50,
        loss_scale: float | None = None,
        holdout: float | None = None,
        holdout_patience: int = 1000,
        emv_alpha: float = 0.1,
        emv_patience: int = 1000,
        welford_delta: float = 0.99,
        welford_patience: int = 1000,
    ) -> None:
        if net not in NETS:
            raise UserError(f"unknown DIP net {net!r}: choose one of {', '.join(NETS)}")
        self.net_name = net
        self.seed = seed
        self.device = resolve_device(device)
        self.preset = get_preset(preset or DEFAULT_PRESETS[net]).with_overrides(
            iterations=iterations, lr=lr, sigma_p=sigma_p, perturbation=perturbation, input=input,
            input_channels=input_channels, final_output=final_output, loss_scale=loss_scale, holdout=holdout,
        )
        if not 0.0 <= self.preset.holdout < 1.0:
            raise UserError(f"holdout must be a fraction in [0, 1) of the known pixels, got {self.preset.holdout}")
        self.net_args = dict(self.preset.net_args) if net == self.preset.net else {}
        if upsample_mode is not None:
            self.net_args["upsample_mode"] = upsample_mode
        _check_net_args(net, self.preset.name, self.net_args)
        guard_db = {None: self.preset.guard_drop_db, True: self.preset.guard_drop_db or 5.0, False: None}[guard]
        self.config = FitConfig(
            iterations=self.preset.iterations, lr=self.preset.lr, sigma_p=self.preset.sigma_p,
            perturbation=self.preset.perturbation, final_output=self.preset.final_output, ema=ema, every=every,
            guard_drop_db=guard_db, precision=precision,
            early_stop=early_stop, wmv_window=wmv_window, wmv_patience=wmv_patience,
            loss_scale=self.preset.loss_scale, holdout_patience=holdout_patience, emv_alpha=emv_alpha,
            emv_patience=emv_patience, welford_delta=welford_delta, welford_patience=welford_patience,
        )
        self.channels_last = channels_last
        self.compile = compile

    def build_net(self, out_channels: int) -> torch.nn.Module:
        """The untrained net, initialised from the seed (PyTorch's default init, as in the official code)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seeds(self.seed)[1])
            return NETS[self.net_name](self.preset.input_channels, out_channels, **self.net_args)

    def check_size(self, height: int, width: int, channels: int = 3) -> None:
        """``UserError`` when the net cannot take an image of ``height`` x ``width`` (too small for its depth)."""
        self._sized_net(height, width, channels)

    def _sized_net(self, h: int, w: int, channels: int) -> torch.nn.Module:
        net = self.build_net(channels)
        if min(h, w) < net.min_size:
            raise UserError(
                f"image is {w}x{h} but {self.net_name} with preset {self.preset.name!r} needs at least "
                f"{net.min_size}x{net.min_size}: use a larger image or a shallower preset"
            )
        return net

    def prepare(self, image: np.ndarray, mask: np.ndarray) -> _Problem:
        """Validate, pad and move one image to the device; builds the seeded net and input z."""
        check_image_mask(image, mask)
        h, w, channels = image.shape
        net = self._sized_net(h, w, channels)
        native = self.preset.fit_size == "native" and keeps_size(net, self.preset.input_channels, h, w)
        pad_h, pad_w = (0, 0) if native else (-h % net.size_multiple, -w % net.size_multiple)
        padded = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect").astype(np.float32)
        known = np.pad(mask, ((0, pad_h), (0, pad_w)), mode="constant", constant_values=False)
        seed_z, _, seed_noise = _seeds(self.seed)
        z = make_input(self.preset.input, self.preset.input_channels, padded.shape[:2],
                       torch.Generator().manual_seed(seed_z), self.preset.input_scale).to(self.device)
        net = net.to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
            z = z.contiguous(memory_format=torch.channels_last)
        mask_tensor = torch.from_numpy(known.astype(np.float32))[None, None].to(self.device)
        held = None
        if self.preset.holdout > 0:
            held = holdout_split(mask_tensor.cpu(), self.preset.holdout,
                                 torch.Generator().manual_seed(_holdout_seed(self.seed))).to(self.device)
        return _Problem(
            net=net,
            run_net=torch.compile(net) if self.compile else net,
            z=z,
            target=_to_tensor(padded, self.device),
            mask=mask_tensor,
            generator=torch.Generator(self.device).manual_seed(seed_noise),
            size=(h, w),
            held=held,
        )

    def make_step(self, image: np.ndarray, mask: np.ndarray) -> FitStep:
        """The single fitting step for this image (what ``dip-bench profile`` times)."""
        problem = self.prepare(image, mask)
        mask_in = problem.mask if problem.held is None else problem.mask * (1 - problem.held)
        return FitStep(problem.run_net, problem.z, problem.target, mask_in, self.config, problem.generator)

    def __call__(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        observe: Observer | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Inpaint ``image`` (H x W x C float32 in [0, 1]) where ``mask`` (H x W bool, True = known) is False;
        ``observe`` sees the raw output along the fit (see the module docstring)."""
        start = time.perf_counter()
        problem = self.prepare(image, mask)
        h, w = problem.size
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        shown: Observe | None = None
        if observe is not None:
            def shown(iteration: int, out: torch.Tensor, stats: dict, label: str | None) -> None:
                observe(iteration, _to_numpy(out, h, w), stats, label)
        result = fit_dip(problem.run_net, problem.z, problem.target, problem.mask, self.config, problem.generator,
                         observe=shown, holdout=problem.held)
        output = _to_numpy(result.output, h, w)
        record: dict[str, Any] = {
            "iterations": result.iterations,
            "seconds": time.perf_counter() - start,
            "seconds_per_iter": result.seconds_per_iter,
            "device": str(self.device),
            "net": self.net_name,
            "preset": self.preset.name,
            "parameters": count_parameters(problem.net),
            "input": self.preset.input,
            "input_channels": self.preset.input_channels,
            "lr": self.preset.lr,
            "sigma_p": self.preset.sigma_p,
            "perturbation": self.preset.perturbation,
            "final_output": self.config.final_output,
            "guard_drop_db": self.config.guard_drop_db,
            "fit_shape": "x".join(str(n) for n in problem.target.shape[-2:]),
            "precision": self.config.precision,
            "seed": self.seed,
            "loss_scale": self.config.loss_scale,
            "holdout": self.preset.holdout,
            "restores": len(result.restore_iters),
            "restore_iters": result.restore_iters,
            "peak_memory_mb": peak_memory(self.device)[0],
            **result.early_stop,
        }
        return output, record


def _check_net_args(net: str, preset: str, net_args: dict[str, Any]) -> None:
    """Every key of ``net_args`` must be a keyword of the net's builder (a UserError names the first that is not)."""
    accepted = inspect.signature(NETS[net]).parameters
    for key in net_args:
        if key not in accepted:
            raise UserError(f"preset {preset!r} sets {key} for the {net} net, whose builder does not accept it in "
                            f"this version: choose another preset or drop {key} from dip/presets.toml")


def keeps_size(net: torch.nn.Module, in_channels: int, h: int, w: int) -> bool:
    """Whether ``net`` maps an H x W input to an H x W output (checked on meta tensors: no arithmetic runs)."""
    shadow = copy.deepcopy(net).to("meta")
    return tuple(shadow(torch.empty(1, in_channels, h, w, device="meta")).shape[-2:]) == (h, w)
