"""Image quality metrics, all from ``skimage.metrics`` on float images in [0, 1] (data_range 1).

SSIM uses the Wang et al. 2004 settings (Gaussian window σ = 1.5, population covariance), which skimage's defaults
do not. Hole-only metrics: PSNR over the hole pixels; SSIM as the mean of the SSIM map over the hole pixels.
"""
from __future__ import annotations

import math

import numpy as np
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

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



def score(reference: np.ndarray, output: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Whole-image and hole-only PSNR/SSIM of ``output`` (H x W x C in [0, 1]) against ``reference``."""
    ref, out = reference.astype(np.float64), output.astype(np.float64)
    hole = ~mask
    mean_ssim, ssim_map = ssim(ref, out)
    hole_mse = float(np.mean((ref[hole] - out[hole]) ** 2)) if hole.any() else math.nan
    return {
        "psnr": psnr(ref, out),
        "ssim": mean_ssim,
        "psnr_hole": math.inf if hole_mse == 0 else -10.0 * math.log10(hole_mse) if hole.any() else math.nan,
        "ssim_hole": float(ssim_map[hole].mean()) if hole.any() else math.nan,
    }
