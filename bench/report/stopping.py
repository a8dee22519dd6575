"""The report's stopping section (issue 28): how close each stopping rule comes to the oracle peak, and what it saves.

Reads only the rows' ``stopping`` column (``bench.stopping``), ``iterations``, ``seconds_per_iter`` and the curves.
Per method label (a DIP configuration) one table, one line per rule: rows n, mean gap to the oracle peak (dB, hole
PSNR) with its 95 % bootstrap interval, share of rows within 0.5 dB and 1 dB of the peak, mean share of the
iterations saved against the fixed count, mean stop iteration and mean seconds saved; the note gives the seconds to
reach within 0.5 dB of the peak along the observed curve. The figure draws hole PSNR along a few fits with each
rule's chosen iterate marked (and its stop, dotted).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dip_bench.bench.report.cells import Table, interval, num
from dip_bench.bench.report.figures import FigureSkipped, _panels, _save
from dip_bench.bench.stopping import parse

#: rules in table order; the two references first (``bench.stopping.REFERENCES``), ours last
ORDER = ("fixed", "oracle", "es-wmv", "es-emv", "welford", "holdout")
OURS = ("holdout",)
MARKERS = {"fixed": "s", "oracle": "*", "es-wmv": "o", "es-emv": "^", "welford": "v", "holdout": "D"}
MAX_FITS = 4


def long_frame(ok: pd.DataFrame) -> pd.DataFrame:
    """One line per (row, rule) of the ok rows with a ``stopping`` field: label, mask, image, seed, row_id, rule,
    iter, stop, stopped, psnr_hole, ssim_hole, gap_db, saved_iters, share_saved, saved_s."""
    lines = []
    for row in ok.to_dict("records"):
        summary = parse(row.get("stopping"))
        iterations = row.get("iterations")
        per_iter = row.get("seconds_per_iter")
        for rule, fields in summary.items():
            lines.append({key: row[key] for key in ("label", "mask", "image", "seed", "row_id")} | {
                "rule": rule, **{k: fields.get(k) for k in ("iter", "stop", "stopped", "psnr_hole", "ssim_hole",
                                                             "gap_db", "saved_iters")},
                "share_saved": fields.get("saved_iters", np.nan) / iterations if iterations else np.nan,
                "saved_s": fields.get("saved_iters", np.nan) * per_iter if per_iter == per_iter else np.nan})
    columns = ["label", "mask", "image", "seed", "row_id", "rule", "iter", "stop", "stopped", "psnr_hole",
               "ssim_hole", "gap_db", "saved_iters", "share_saved", "saved_s"]
    frame = pd.DataFrame(lines, columns=columns)
    for column in ("gap_db", "psnr_hole", "ssim_hole", "share_saved", "saved_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def seconds_to_peak(ok: pd.DataFrame, curves: pd.DataFrame, within: float = 0.5) -> pd.Series:
    """Per row id: seconds until the first observed curve point within ``within`` dB of the oracle peak, i.e.
    (iteration + 1) × the row's seconds per iteration."""
    out = {}
    for row in ok.to_dict("records"):
        summary = parse(row.get("stopping"))
        peak = summary.get("oracle", {}).get("psnr_hole")
        points = curves[curves["row_id"] == row["row_id"]] if "row_id" in curves else curves.iloc[:0]
        if peak is None or points.empty or not row.get("seconds_per_iter") == row.get("seconds_per_iter"):
            continue
        close = points[points["psnr_hole"] >= peak - within]
        if len(close):
            out[row["row_id"]] = (int(close["iteration"].min()) + 1) * float(row["seconds_per_iter"])
    return pd.Series(out, dtype=float)


def tables(ok: pd.DataFrame, curves: pd.DataFrame,
           ci: Callable[[np.ndarray], tuple[float, float]]) -> list[Table]:
    """One table per method label (see the module docstring); [] when no row has a ``stopping`` field."""
    frame = long_frame(ok)
    if frame.empty:
        return []
    reach = seconds_to_peak(ok, curves)
    out = []
    for label, mine in frame.groupby("label", sort=False):
        lines = []
        rules = [r for r in ORDER if r in set(mine["rule"])] + sorted(set(mine["rule"]) - set(ORDER))
        for rule in rules:
            part = mine[mine["rule"] == rule]
            gaps = part["gap_db"].dropna().to_numpy()
            low, high = ci(gaps) if len(gaps) else (np.nan, np.nan)
            lines.append({
                "rule": f"{rule} (ours)" if rule in OURS else rule,
                "n": len(part),
                "gap to peak dB [95 % CI]": interval(float(gaps.mean()) if len(gaps) else np.nan, low, high, 2,
                                                     sign=False),
                "≤ 0.5 dB": num(float((gaps <= 0.5).mean()) if len(gaps) else np.nan, 2),
                "≤ 1 dB": num(float((gaps <= 1.0).mean()) if len(gaps) else np.nan, 2),
                "iterations saved": num(float(part["share_saved"].mean()), 2),
                "stop iteration": num(float(pd.to_numeric(part["stop"]).mean()), 0),
                "s saved": num(float(part["saved_s"].mean()), 1),
            })
        rows = set(mine["row_id"])
        mine_reach = reach[reach.index.isin(rows)]
        note = (f"gap = oracle hole PSNR − the rule's (dB; the oracle is the best observed curve point or the final "
                f"output, so a rule can beat it: a negative gap); shares are of the rows and of the fixed count. "
                f"Seconds to within 0.5 dB of the peak: "
                + (f"{mine_reach.mean():.1f} s (mean over {len(mine_reach)} rows, first observed point)"
                   if len(mine_reach) else "not available"))
        out.append(Table.from_frame(f"{label}", pd.DataFrame(lines), note))
    return out


def figure(ok: pd.DataFrame, curves: pd.DataFrame, out_dir: Path, max_fits: int = MAX_FITS) -> Path:
    """``stopping.png``: hole PSNR along up to ``max_fits`` fits (one per label and mask first), each rule's chosen
    iterate marked with its hole PSNR, its stop as a dotted line."""
    frame = long_frame(ok)
    if frame.empty or curves.empty or "psnr_hole" not in curves:
        raise FigureSkipped("no row with stopping rules and a hole-PSNR curve")
    picks = frame.drop_duplicates(["label", "mask"])["row_id"].tolist()
    picks = (picks + [r for r in frame["row_id"].unique() if r not in picks])[:max_fits]
    fig: Figure
    fig, axes = _panels(len(picks), 5.6, 3.4)
    colours = {rule: f"C{i}" for i, rule in enumerate(ORDER)}
    drawn = []
    for ax, rid in zip(axes, picks):
        line = curves[curves["row_id"] == rid].sort_values("iteration")
        ax.plot(line["iteration"], line["psnr_hole"], color="0.35", linewidth=1.2)
        mine = frame[frame["row_id"] == rid]
        for rule in mine.to_dict("records"):
            colour = colours.get(rule["rule"], "k")
            ax.plot(rule["iter"], rule["psnr_hole"], MARKERS.get(rule["rule"], "x"), color=colour, markersize=7,
                    label=rule["rule"])
            ax.axvline(rule["stop"], color=colour, linestyle=":", linewidth=1)
            drawn.append({"row_id": rid, **rule})
        first = mine.iloc[0]
        ax.set_title(f"{first['label']} · {first['image']}/{first['mask']} s{first['seed']}", fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel("hole PSNR (dB)")
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("Hole PSNR along the fit; markers: each rule's chosen iterate, dotted: where it stops")
    return _save(fig, pd.DataFrame(drawn), out_dir, "stopping")
