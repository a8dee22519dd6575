"""Image quality metrics, all from ``skimage.metrics`` on float images in [0, 1] (data_range 1).

SSIM uses the Wang et al. 2004 settings (Gaussian window σ = 1.5, population covariance), which skimage's defaults
do not. Hole-only metrics: PSNR over the hole pixels; SSIM as the mean of the SSIM map over the hole pixels.
``Monitor`` is the harness's observer of a fit: it alone holds the clean image and scores what a method shows it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from dip_bench.contract import LABELS, STOP_LABELS, ContractError, check_array, composite, is_int, to_uint8

SSIM_ARGS = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Whole-image PSNR in dB; inf for identical images."""
    if mean_squared_error(reference, test) == 0:
        return math.inf
    return float(peak_signal_noise_ratio(reference, test, data_range=1.0))


def ssim(reference: np.ndarray, test: np.ndarray) -> tuple[float, np.ndarray]:
    """skimage's mean SSIM and the per-pixel SSIM map (H x W, averaged over channels); images H x W x C."""
    mean, full = structural_similarity(reference, test, channel_axis=-1, full=True, **SSIM_ARGS)
    return float(mean), full.mean(axis=-1)


def psnr_hole(reference: np.ndarray, test: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB over the hole pixels (``mask`` False) only; inf when they match, nan without a hole."""
    hole = ~mask
    if not hole.any():
        return math.nan
    mse = float(np.mean((reference[hole].astype(np.float64) - test[hole].astype(np.float64)) ** 2))
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def score_as_stored(reference: np.ndarray, output: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """``score`` of ``output`` as the harness would store it as a row's result: composited (known pixels from
    ``reference``) and rounded to 8 bits (``seal.store_output``)."""
    stored = to_uint8(composite(output, reference, mask)).reshape(reference.shape).astype(np.float32) / np.float32(255)
    return score(reference, stored, mask)


def score(reference: np.ndarray, output: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Whole-image and hole-only PSNR/SSIM of ``output`` (H x W x C in [0, 1]) against ``reference``."""
    ref, out = reference.astype(np.float64), output.astype(np.float64)
    hole = ~mask
    mean_ssim, ssim_map = ssim(ref, out)
    return {
        "psnr": psnr(ref, out),
        "ssim": mean_ssim,
        "psnr_hole": psnr_hole(ref, out, mask),
        "ssim_hole": float(ssim_map[hole].mean()) if hole.any() else math.nan,
    }


class Monitor:
    """The harness's ``dip_bench.contract.Observer``: holds the clean ``reference`` (H x W x C in [0, 1]) and the
    ``mask`` (H x W, True = known) and scores every output a method shows it.

    A curve point (label None) becomes ``{"iteration", "loss", "psnr", "psnr_hole"}`` in ``curve`` (PSNRs of the raw
    output, whole image and holes only) and is passed on to ``on_point(iteration, stats)`` (a progress bar); a
    labelled iterate is scored into ``labelled`` under its column (``contract.LABELS``: ``es-wmv`` → ``es_psnr``);
    a stopping rule's iterate (``contract.STOP_LABELS``) into ``stops[label]``: ``{"iter", "stop", "stopped"}`` and
    its ``score_as_stored`` numbers. ``peak``: (index in ``curve``, output) of the first curve point with the best
    hole PSNR (the oracle on the observed points).
    A wrong shown output, iteration, stats or label is a ``ContractError``.
    """

    def __init__(self, reference: np.ndarray, mask: np.ndarray,
                 on_point: Callable[[int, Mapping[str, float]], None] | None = None) -> None:
        self.reference, self.mask, self.on_point = reference, mask, on_point
        self.curve: list[dict[str, float]] = []
        self.labelled: dict[str, float] = {}
        self.stops: dict[str, dict[str, float]] = {}
        self.peak: tuple[int, np.ndarray] | None = None

    def __call__(self, iteration: int, output: np.ndarray, stats: Mapping[str, float],
                 label: str | None = None) -> None:
        if not is_int(iteration, 0):
            raise ContractError(f"observed iteration {iteration!r} is not an integer >= 0")
        if not isinstance(stats, Mapping):
            raise ContractError(f"observed stats at iteration {iteration} are {type(stats).__name__}, not a mapping")
        shown = check_array(output, self.reference.shape, f"observed output at iteration {iteration}")
        if label is None:
            loss = stats.get("loss", math.nan)
            if isinstance(loss, bool) or not isinstance(loss, (int, float, np.floating)):
                raise ContractError(f"observed loss at iteration {iteration} is {loss!r}, not a number")
            self.curve.append({"iteration": int(iteration), "loss": float(loss), "psnr": psnr(self.reference, shown),
                               "psnr_hole": psnr_hole(self.reference, shown, self.mask)})
            hole = self.curve[-1]["psnr_hole"]
            if self.peak is None or hole > self.curve[self.peak[0]]["psnr_hole"]:
                self.peak = (len(self.curve) - 1, shown)
            if self.on_point is not None:
                self.on_point(int(iteration), stats)
        elif label in LABELS or label in STOP_LABELS:
            if label in LABELS:
                self.labelled[LABELS[label]] = psnr(self.reference, shown)
            if label in STOP_LABELS:
                self.stops[label] = {"iter": int(iteration), **self._stop_stats(iteration, label, stats),
                                     **score_as_stored(self.reference, shown, self.mask)}
        else:
            raise ContractError(f"observed label {label!r} is unknown; use None for a curve point or one of "
                                f"{', '.join(dict.fromkeys([*LABELS, *STOP_LABELS]))}")

    @staticmethod
    def _stop_stats(iteration: int, label: str, stats: Mapping[str, float]) -> dict[str, float]:
        """``{"stop", "stopped"}`` from a stopping rule's stats (``stop_iteration`` >= the chosen ``iteration``;
        ``stopped`` 0 or 1); missing stats: stopped at the chosen iteration."""
        stop, stopped = stats.get("stop_iteration", iteration), stats.get("stopped", 1.0)
        if isinstance(stop, bool) or not isinstance(stop, (int, float, np.number)) or not float(stop).is_integer() \
                or stop < iteration or stopped not in (0, 1):
            raise ContractError(f"observed {label} stats {dict(stats)!r}: stop_iteration must be an integer >= the "
                                f"chosen iteration {iteration} and stopped 0 or 1")
        return {"stop": int(stop), "stopped": bool(stopped)}

    def best(self, final_psnr: float, final_iteration: int) -> tuple[float, int | None]:
        """(best whole-image PSNR of the raw output over the curve and the final output, its iteration); the final
        output wins a tie; (nan, None) without a curve."""
        if not self.curve:
            return math.nan, None
        point = max(self.curve, key=lambda p: p["psnr"])
        if final_psnr >= point["psnr"]:
            return final_psnr, final_iteration
        return point["psnr"], int(point["iteration"])
