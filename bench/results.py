"""The tidy results of a run, written so that nothing finished is ever lost.

A run folder holds:
- ``results.csv``: one row per (method, preset, image, mask, seed) with the columns ``COLUMNS``; ``status`` is
  ``ok``, ``skipped: reason`` or ``failed: reason``. Rewritten atomically (temp file + rename) after every row.
- ``curves.csv``: the PSNR-vs-iteration curves of iterative methods, long form (``KEY`` + iteration, loss, psnr).
- ``outputs/<row id>.png``: each method's composited output; ``inputs/<image>.png`` the clean image and
  ``inputs/<image>__<mask>.png`` the masked input (holes white).
- ``meta.json``: suite, seeds, versions, device, git commit, date, command line.

Metric protocol: ``psnr``/``ssim`` are over the whole *composited* image (inpainting papers); ``psnr_hole``/
``ssim_hole`` over the hole only; ``psnr_raw`` is the raw network output over the whole image (DIP papers, Table 1);
``best_psnr``/``best_iter`` the best PSNR seen along the fit (outputs checked every few iterations, and the final
output; the oracle a user never has); ``lpips`` only where LPIPS can run offline (see ``bench.lpips_metric``); ``es_*`` the iterate chosen by ES-WMV early stopping when enabled.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from dip_bench.bench.atomic import write_text

KEY = ["method", "preset", "image", "mask", "seed"]
COLUMNS = KEY + [
    "size", "hole_ratio", "status", "psnr", "ssim", "psnr_hole", "ssim_hole", "lpips", "psnr_raw", "best_psnr",
    "best_iter", "es_iter", "es_psnr", "es_saved_iters", "iterations", "seconds", "seconds_per_iter",
    "peak_memory_mb", "device", "params",
]
CURVE_COLUMNS = KEY + ["iteration", "loss", "psnr"]
RESULTS, CURVES, META = "results.csv", "curves.csv", "meta.json"


def row_id(row: dict[str, Any]) -> str:
    """File-name-safe id of a row, e.g. ``dip-skip__text__astronaut__strokes-20-30__s0``."""
    preset = row["preset"] if isinstance(row["preset"], str) and row["preset"] else "-"
    return f"{row['method']}__{preset}__{row['image']}__{row['mask']}__s{int(row['seed'])}"


def read_results(run_dir: Path) -> pd.DataFrame:
    """The results table of ``run_dir`` (empty with ``COLUMNS`` when there is none yet)."""
    path = Path(run_dir) / RESULTS
    return read_table(path) if path.exists() else pd.DataFrame(columns=COLUMNS)


def read_table(path: Path) -> pd.DataFrame:
    """A results-shaped CSV (a run's ``results.csv`` or a stored reference), empty presets as ``""``."""
    table = pd.read_csv(path, keep_default_na=False, na_values=["", "nan"])
    table["preset"] = table["preset"].astype(object).fillna("").astype(str)
    return table


def read_curves(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / CURVES
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=CURVE_COLUMNS)


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6g")
    write_text(path, buffer.getvalue())


def append_row(run_dir: Path, row: dict[str, Any], curve: list[dict[str, float]] | None = None) -> None:
    """Add one finished row (replacing an earlier row with the same key) and its curve, atomically."""
    run_dir = Path(run_dir)
    if curve:
        curves = read_curves(run_dir)
        new = pd.DataFrame([{**{k: row[k] for k in KEY}, **point} for point in curve])
        curves = curves[~_same_key(curves, row)] if len(curves) else curves
        _write_csv(run_dir / CURVES, pd.concat([curves, new[CURVE_COLUMNS]], ignore_index=True)
                   if len(curves) else new[CURVE_COLUMNS])
    table = read_results(run_dir)
    table = table[~_same_key(table, row)] if len(table) else table
    new_row = pd.DataFrame([{column: row.get(column) for column in COLUMNS}])
    _write_csv(run_dir / RESULTS, pd.concat([table, new_row], ignore_index=True) if len(table) else new_row)


def _same_key(table: pd.DataFrame, row: dict[str, Any]) -> pd.Series:
    match = pd.Series(True, index=table.index)
    for column in KEY:
        match &= table[column].astype(str) == str(row[column] if row[column] is not None else "")
    return match


def done_keys(run_dir: Path) -> set[tuple[str, ...]]:
    """Keys of rows already finished (status ok or skipped; failed rows are retried on --resume)."""
    table = read_results(run_dir)
    finished = table[~table["status"].astype(str).str.startswith("failed")]
    return {tuple(str(v) for v in values) for values in finished[KEY].itertuples(index=False)}


def key_of(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[column]) for column in KEY)
