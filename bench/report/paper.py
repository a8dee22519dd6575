"""The DIP paper's Table 1 protocol (restoration.ipynb): the image reflect-padded by 1 px per side (barbara
514 x 514; ``pad = 1`` in the suite), 50 % of pixels dropped by a seeded Bernoulli mask drawn at that size, the
official ``pixels`` preset (LR 0.001, 11000 iterations, bilinear, skip channels 4, backtracking on, fit at the
image's own size), PSNR of the *raw* output for the last perturbed input over the whole (padded) image."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from dip_bench.bench.atomic import write_text

TABLE1 = "table1.csv"
#: Table 1 of Ulyanov et al. 2018, DIP row (PSNR dB, 50 % of pixels dropped)
PAPER_TABLE1 = {"barbara": 32.22, "boat": 33.06, "house": 39.16, "lena": 36.16, "peppers": 33.05, "c.man": 29.8,
                "couple": 32.52, "finger": 32.84, "hill": 32.77, "man": 32.20, "montage": 34.54}


def table1(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (image, seed) of the ``pixels``-preset DIP fits on ``pixels50`` masks: image, seed, psnr (raw
    output, whole image), iterations, device."""
    rows = results[(results["preset"] == "pixels") & (results["mask"] == "pixels50") & (results["status"] == "ok")]
    table = rows[["image", "seed", "psnr_raw", "iterations", "device"]].rename(columns={"psnr_raw": "psnr"})
    return table.sort_values(["image", "seed"]).reset_index(drop=True)


def write_table1(results: pd.DataFrame, run_dir: Path) -> Path | None:
    """Write ``table1.csv`` beside the results when the run has Table 1 rows; return its path or None."""
    table = table1(results)
    if table.empty:
        return None
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.4f")
    write_text(Path(run_dir) / TABLE1, buffer.getvalue())
    return Path(run_dir) / TABLE1


def table1_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std and min-max spread across seeds per image, next to the paper's number where it has one."""
    summary = table.groupby("image")["psnr"].agg(["mean", "std", "min", "max", "count"]).reset_index()
    summary["paper"] = summary["image"].map(PAPER_TABLE1)
    return summary
