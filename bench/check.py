"""PSNR regression check: compare a run's results with a stored reference table, row by row."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from dip_bench.bench.results import KEY

METRICS = {"psnr": "db", "psnr_hole": "db", "psnr_raw": "db", "ssim": "ssim", "ssim_hole": "ssim"}


@dataclass(frozen=True)
class CheckResult:
    """``table``: one line per reference row with the differences; ``problems``: one message per failing row."""

    table: pd.DataFrame
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _label(row: pd.Series) -> str:
    preset = f"[{row['preset']}]" if isinstance(row["preset"], str) and row["preset"] else ""
    return f"{row['method']}{preset} {row['image']}/{row['mask']} seed {row['seed']}"


def compare(run: pd.DataFrame, reference: pd.DataFrame, tol_db: float = 0.05, tol_ssim: float = 0.002,
            only_present: bool = False) -> CheckResult:
    """Rows of ``reference`` missing from ``run`` fail (unless ``only_present``); rows whose status changed or whose
    PSNR (dB) / SSIM moved by more than the tolerance fail. NaN equals NaN; inf equals inf."""
    keyed = lambda t: t.assign(seed=t["seed"].astype(int), preset=t["preset"].astype(object).fillna("").astype(str))
    merged = keyed(reference).merge(keyed(run), on=KEY, how="left", suffixes=("_ref", ""), indicator=True)
    problems, lines = [], []
    for _, row in merged.iterrows():
        label = _label(row)
        if row["_merge"] == "left_only":
            if not only_present:
                problems.append(f"{label}: missing from the run")
                lines.append({"row": label, "status": "missing"})
            continue
        line = {"row": label, "status": row["status"]}
        moved = []
        if str(row["status"]) != str(row["status_ref"]):
            moved.append(f"status {row['status_ref']!r} -> {row['status']!r}")
        for metric, kind in METRICS.items():
            if f"{metric}_ref" not in row or metric not in row:
                continue
            new, old = float(row[metric]), float(row[f"{metric}_ref"])
            diff = 0.0 if (math.isnan(new) and math.isnan(old)) or new == old else new - old
            line[f"d_{metric}"] = diff
            tolerance = tol_db if kind == "db" else tol_ssim
            if math.isnan(diff) or abs(diff) > tolerance:
                moved.append(f"{metric} {old:.4f} -> {new:.4f} ({diff:+.4f})")
        if moved:
            problems.append(f"{label}: " + "; ".join(moved))
        lines.append(line)
    return CheckResult(pd.DataFrame(lines), problems)
