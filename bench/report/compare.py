"""Paired statistics of a run: who wins on the same pairs, by how much, how sure we are.

Every comparison stays inside one mask kind (whole-image and hole metrics depend on the hole size, so nothing is
averaged across mask kinds). Two methods are compared only on the (image, seed) units that both finished with status
ok; the difference is ``method − reference`` (positive = the method is better), its mean comes with a 95 % percentile
bootstrap interval over those units (``RESAMPLES`` resamples, ``numpy.random.default_rng(SEED)``), and each unit is a
win, a tie (``|Δ hole PSNR| < TIE_DB``) or a loss.

Tables here are long-form pandas frames with numbers; the report formats them. The input ``ok`` is the results rows
with status ok plus a ``label`` column (``method`` or ``method[preset]``).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

TIE_DB = 0.05
RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95
UNIT = ["image", "seed"]
#: hole-ratio bins of 10 % as the inpainting literature reports them (Liu et al. 2018): (0.1, 0.2], ...
BIN_EDGES = np.round(np.linspace(0.0, 1.0, 11), 1)
REFERENCE_DIP = "dip-skip"


def bootstrap_ci(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                 level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (1-D, finite); (nan, nan) for fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.nan, np.nan
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _finite(series: pd.Series) -> pd.Series:
    return series.where(np.isfinite(series.astype(float)))


def best_classical(ok: pd.DataFrame, mask: str, families: dict[str, str]) -> str | None:
    """The label of the classical method with the highest mean hole PSNR on ``mask`` (None when none ran)."""
    rows = ok[(ok["mask"] == mask) & (ok["method"].map(families) == "classical")]
    if rows.empty:
        return None
    means = _finite(rows["psnr_hole"]).groupby(rows["label"], sort=False).mean().dropna()
    return str(means.idxmax()) if len(means) else None


def dip_reference(ok: pd.DataFrame, mask: str) -> str | None:
    """The ``dip-skip`` configuration that ran on ``mask``: the one with the most ok rows there, the first in run
    order on a tie (a suite gives each mask kind the preset meant for it)."""
    rows = ok[(ok["mask"] == mask) & (ok["method"] == REFERENCE_DIP)]
    if rows.empty:
        return None
    counts = rows.groupby("label", sort=False).size()
    return str(counts.idxmax())


def paired(ok: pd.DataFrame, label: str, reference: str, mask: str) -> pd.DataFrame:
    """The units where both ``label`` and ``reference`` finished on ``mask``: image, seed, d_psnr (hole PSNR dB) and
    d_ssim (hole SSIM), each ``label − reference``."""
    rows = ok[ok["mask"] == mask]
    columns = UNIT + ["psnr_hole", "ssim_hole"]
    mine = rows[rows["label"] == label][columns]
    theirs = rows[rows["label"] == reference][columns]
    both = mine.merge(theirs, on=UNIT, suffixes=("", "_ref"))
    return pd.DataFrame({"image": both["image"], "seed": both["seed"],
                         "d_psnr": both["psnr_hole"] - both["psnr_hole_ref"],
                         "d_ssim": both["ssim_hole"] - both["ssim_hole_ref"]})


def summarise(deltas: pd.DataFrame) -> dict[str, float | int]:
    """n, mean and bootstrap interval of d_psnr and d_ssim, wins/ties/losses by d_psnr, and ``not_finite`` (units
    left out because a PSNR was infinite: an exact fill)."""
    d_psnr = deltas["d_psnr"].astype(float)
    finite = d_psnr[np.isfinite(d_psnr)].to_numpy()
    d_ssim = deltas["d_ssim"].astype(float).dropna().to_numpy()
    psnr_ci, ssim_ci = bootstrap_ci(finite), bootstrap_ci(d_ssim)
    return {
        "n": len(deltas), "not_finite": int(len(d_psnr) - len(finite)),
        "d_psnr": float(finite.mean()) if len(finite) else np.nan, "d_psnr_low": psnr_ci[0],
        "d_psnr_high": psnr_ci[1],
        "d_ssim": float(d_ssim.mean()) if len(d_ssim) else np.nan, "d_ssim_low": ssim_ci[0],
        "d_ssim_high": ssim_ci[1],
        "wins": int((finite >= TIE_DB).sum()), "ties": int((np.abs(finite) < TIE_DB).sum()),
        "losses": int((finite <= -TIE_DB).sum()),
    }


def headline(ok: pd.DataFrame, families: dict[str, str]) -> pd.DataFrame:
    """One row per (against, mask, method): every method against the best classical baseline of the mask kind and
    against its ``dip-skip`` configuration, on their shared units. Columns: against (``best classical`` |
    ``dip-skip``), mask, reference, method, the ``summarise`` fields, and the method's own mean hole PSNR/SSIM on
    those units."""
    out = []
    for mask in ok["mask"].unique():
        references = [("best classical", best_classical(ok, mask, families)), (REFERENCE_DIP, dip_reference(ok, mask))]
        for against, reference in references:
            if reference is None:
                continue
            for label in ok[ok["mask"] == mask]["label"].unique():
                if label == reference:
                    continue
                deltas = paired(ok, label, reference, mask)
                if deltas.empty:
                    continue
                out.append({"against": against, "mask": mask, "reference": reference, "method": label,
                            **summarise(deltas)})
    return pd.DataFrame(out)


def mean_ranks(ok: pd.DataFrame, value: str = "psnr_hole") -> pd.DataFrame:
    """Mean rank (1 = best ``value``, ties share the average rank) of each method per mask kind, over the units where
    every method of that mask kind finished (complete blocks, as benchopt ranks solvers per dataset). Columns: mask,
    method, mean_rank, n (blocks), methods (how many competed)."""
    out = []
    for mask, rows in ok.groupby("mask", sort=False):
        wide = rows.pivot_table(index=UNIT, columns="label", values=value, aggfunc="first", sort=False)
        wide = wide[[label for label in rows["label"].unique() if label in wide.columns]].dropna()
        if wide.empty:
            continue
        ranks = wide.rank(axis=1, ascending=False, method="average").mean()
        out += [{"mask": mask, "method": label, "mean_rank": float(rank), "n": len(wide), "methods": wide.shape[1]}
                for label, rank in ranks.items()]
    return pd.DataFrame(out)


def mask_family(mask: str) -> str:
    """``strokes-10-20`` → ``strokes``: kinds that differ only in their hole-ratio range form one family."""
    return re.sub(r"(-\d+)+$", "", str(mask))


def hole_bin(ratio: pd.Series) -> pd.Series:
    """10 % hole-ratio bins as labels ``10-20 %`` (half-open (lo, hi] like Liu et al. 2018), categorical in order."""
    labels = [f"{100 * lo:.0f}-{100 * hi:.0f} %" for lo, hi in zip(BIN_EDGES[:-1], BIN_EDGES[1:])]
    return pd.cut(ratio.astype(float), bins=BIN_EDGES, labels=labels, right=True)


def by_hole_bin(ok: pd.DataFrame, value: str = "psnr_hole") -> pd.DataFrame:
    """Mean ``value`` per (mask family, hole-ratio bin, method) with n, bins in order, families and methods in run
    order; infinite values are left out (counted in ``not_finite``)."""
    data = ok.assign(family=ok["mask"].map(mask_family), bin=hole_bin(ok["hole_ratio"]),
                     finite=_finite(ok[value]))
    stats = (data.groupby(["family", "bin", "label"], sort=False, observed=True)
             .agg(mean=("finite", "mean"), n=("finite", "count"), rows=("finite", "size")).reset_index())
    stats["not_finite"] = stats["rows"] - stats["n"]
    return stats.drop(columns="rows").rename(columns={"label": "method"})
