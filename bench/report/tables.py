"""The report's tables, built from the ok rows (``label`` column, see ``load``): the leaderboard per mask kind and
the sentences read off it, the paired comparisons, ranks, hole-ratio bins, pairing, DIP fits, timings, unpaired
means, and the lines on skipped/failed rows and short fits. Averages live only here and in ``compare``: only rows
with status ok enter them; nothing is averaged across mask kinds.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dip_bench.bench import balance
from dip_bench.bench.report import compare
from dip_bench.bench.report.cells import Cell, Table, finite, integer, interval, mark_best, mean_std, num
from dip_bench.bench.report.load import preset_iterations
from dip_bench.bench.results import status_kinds

def summary_table(ok: pd.DataFrame, value: str, index: list[str], column: str, digits: int,
                  column_order: list[Any] | None = None) -> tuple[pd.DataFrame, str]:
    """Cells ``mean ± std`` of ``value`` with rows ``index`` and columns ``column`` (first-appearance order unless
    ``column_order``), and a note on n: "n = k per cell" when uniform, else each cell carries ``(n=k)``.

    Infinite values (PSNR of an exact fill) are left out of mean, std and n and counted in the cell as ``+k inf``."""
    data = ok.dropna(subset=[value])
    if data.empty:
        return pd.DataFrame(), "no values"
    finite = data[value].where(np.isfinite(data[value].astype(float)))
    groups = finite.groupby([data[c] for c in index + [column]], sort=False, observed=True)
    stats = groups.agg(["mean", "std", "count", "size"])
    varies = stats["count"].nunique() > 1
    cells = pd.Series([(mean_std(m, s, digits) + (f" (n={n})" if varies else "") if n else "")
                       + (f" (+{size - n} inf)" if size > n else "")
                       for m, s, n, size in stats.itertuples(index=False)], index=stats.index)
    table = cells.unstack(column)
    rows = (pd.MultiIndex.from_frame(data[index].drop_duplicates()) if len(index) > 1
            else pd.Index(data[index[0]].unique(), name=index[0]))
    order = column_order if column_order is not None else list(data[column].unique())
    table = table.reindex(index=rows, columns=[c for c in order if c in table.columns]).fillna("")
    table.columns = [str(c) for c in table.columns]
    note = "n varies: given per cell" if varies else f"n = {int(stats['count'].iloc[0])} per cell"
    return table.reset_index().rename(columns={"label": "method"}), note


def headline_tables(ok: pd.DataFrame, family: dict[str, str]) -> list[Table]:
    """The paired-comparison tables, one per reference kind (best classical baseline, dip-skip)."""
    frame = compare.headline(ok, family)
    tables = []
    titles = {"best classical": "Against the best classical baseline of each mask kind (by mean hole PSNR)",
              compare.REFERENCE_DIP: "Against dip-skip with the preset of each mask kind"}
    for against, title in titles.items():
        part = frame[frame["against"] == against] if len(frame) else frame
        if part.empty:
            continue
        rows = []
        for r in part.itertuples():
            extra = f" ({r.not_finite} inf left out)" if r.not_finite else ""
            rows.append([Cell(r.mask), Cell(r.reference), Cell(r.method), Cell(str(r.n), sort=r.n),
                         Cell(interval(r.d_psnr, r.d_psnr_low, r.d_psnr_high, 2) + extra, sort=finite(r.d_psnr)),
                         Cell(interval(r.d_ssim, r.d_ssim_low, r.d_ssim_high, 4), sort=finite(r.d_ssim)),
                         Cell(f"{r.wins}/{r.ties}/{r.losses}", sort=r.wins - r.losses)])
        table = Table(title, ["mask", "reference", "method", "n", "Δ hole PSNR (dB) [95 % CI]",
                              "Δ hole SSIM [95 % CI]", "wins/ties/losses"], rows, group="mask")
        tables.append(mark_best(table, ["Δ hole PSNR (dB) [95 % CI]", "Δ hole SSIM [95 % CI]"]))
    return tables


def rank_table(ok: pd.DataFrame) -> Table | None:
    """Mean rank by hole PSNR, methods x mask kinds, n (complete units) in every cell; lowest rank highlighted."""
    ranks = compare.mean_ranks(ok)
    if ranks.empty:
        return None
    masks = list(ranks["mask"].unique())
    rows = []
    for method in [label for label in ok["label"].unique() if label in set(ranks["method"])]:
        mine = ranks[ranks["method"] == method].set_index("mask")
        rows.append([Cell(method)] + [
            Cell(f"{mine.loc[m, 'mean_rank']:.2f} (n={mine.loc[m, 'n']}, of {mine.loc[m, 'methods']})",
                 sort=float(mine.loc[m, "mean_rank"])) if m in mine.index else Cell("")
            for m in masks])
    table = Table("Mean rank by hole PSNR (1 = best; ties share the average rank)", ["method"] + masks, rows,
                  note="per mask kind, over the (image, seed) units where every method of that kind finished; "
                       "n = those units, of = methods ranked")
    return mark_best(table, masks, higher=False)


def bin_tables(ok: pd.DataFrame) -> list[Table]:
    """Mean hole PSNR per hole-ratio bin, one table per mask family, n in every cell, best per bin highlighted."""
    stats = compare.by_hole_bin(ok)
    tables = []
    for family, part in stats.groupby("family", sort=False):
        bins = [b for b in part["bin"].cat.categories if b in set(part["bin"].astype(str))]
        rows = []
        for method in part["method"].unique():
            mine = part[part["method"] == method].set_index(part[part["method"] == method]["bin"].astype(str))
            cells = [Cell(method)]
            for b in bins:
                if b not in mine.index or not mine.loc[b, "n"]:
                    cells.append(Cell(""))
                    continue
                extra = f", +{mine.loc[b, 'not_finite']} inf" if mine.loc[b, "not_finite"] else ""
                cells.append(Cell(f"{mine.loc[b, 'mean']:.2f} (n={mine.loc[b, 'n']}{extra})",
                                  sort=float(mine.loc[b, "mean"])))
            rows.append(cells)
        kinds = ", ".join(sorted(ok.loc[ok["mask"].map(compare.mask_family) == family, "mask"].unique()))
        tables.append(mark_best(Table(f"Hole PSNR (dB) by hole-ratio bin, mask family `{family}` ({kinds})",
                                       ["method"] + bins, rows), bins))
    return tables


def pairing_table(results: pd.DataFrame) -> tuple[Table, list[str]]:
    """Per (mask, method): rows by status and whether its ok units are those of every competitor (paired)."""
    ok = results[results["status"] == "ok"]
    cover = balance.coverage(ok).set_index(["mask", "method"]) if len(ok) else pd.DataFrame()
    status = status_kinds(results["status"])
    counts = results.assign(kind=status).groupby(["mask", "label", "kind"], sort=False).size().unstack(fill_value=0)
    rows = []
    for (mask, label), count in counts.iterrows():
        covered = cover.loc[(mask, label)] if (mask, label) in cover.index else None
        paired = ("" if covered is None else "yes" if covered["paired"]
                  else f"no: {covered['units']} of {covered['of']} (missing {covered['missing']})")
        rows.append([Cell(str(mask)), Cell(label)] + [Cell(str(int(count.get(k, 0))), sort=int(count.get(k, 0)))
                                                      for k in ("ok", "skipped", "failed")] + [Cell(paired)])
    table = Table("Which comparisons are paired", ["mask", "method", "ok", "skipped", "failed",
                                                   "paired (same ok units as every method of the mask kind)"], rows)
    return table, balance.check(ok) if len(ok) else []


def dip_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Per (method, mask) of the iterative rows (iterations > 0) with a raw output: n, raw PSNR, best PSNR, median
    best iteration, median iterations, mean (best − raw)."""
    rows = ok[ok["iterations"].fillna(0) > 0].dropna(subset=["psnr_raw"])
    out = []
    for (label, mask), group in rows.groupby(["label", "mask"], sort=False):
        gap = (group["best_psnr"] - group["psnr_raw"]).dropna()
        out.append({
            "method": label, "mask": mask, "n": len(group),
            "raw PSNR (dB)": mean_std(group["psnr_raw"].mean(), group["psnr_raw"].std(), 2),
            "best PSNR (dB)": mean_std(group["best_psnr"].mean(), group["best_psnr"].std(), 2),
            "best at iteration (median)": integer(group["best_iter"].astype(float).median()),
            "iterations (median)": integer(group["iterations"].astype(float).median()),
            "best − raw (dB)": num(gap.mean(), 2) if len(gap) else "",
        })
    return pd.DataFrame(out)


def time_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Per (method, device): n, seconds per image, ms per iteration (iterative methods), iterations, peak memory."""
    rows = ok.dropna(subset=["seconds"]).assign(device=lambda t: t["device"].replace("", "?").astype(str))
    out = []
    for (label, device), group in rows.groupby(["label", "device"], sort=False):
        iterative = group[group["iterations"].fillna(0) > 0]
        ms = iterative["seconds_per_iter"].dropna() * 1000.0
        memory = group["peak_memory_mb"].dropna()
        out.append({
            "method": label, "device": device, "n": len(group),
            "s / image": mean_std(group["seconds"].mean(), group["seconds"].std(), None),
            "ms / iteration": mean_std(ms.mean(), ms.std(), None) if len(ms) else "",
            "iterations (median)": integer(iterative["iterations"].astype(float).median()) if len(iterative) else "0",
            "peak memory (MB, max)": num(memory.max(), 0) if len(memory) else "",
        })
    return pd.DataFrame(out)


def not_ok_lines(results: pd.DataFrame, shown: int = 6) -> list[str]:
    """One line per (method label, status) of the rows whose status is not ok, with the rows it covers."""
    lines = []
    rows = results[results["status"] != "ok"]
    for (label, status), group in rows.groupby(["label", "status"], sort=False):
        keys = [f"{i}/{m}/s{s}" for i, m, s in group[["image", "mask", "seed"]].itertuples(index=False)]
        more = f", … ({len(keys) - shown} more)" if len(keys) > shown else ""
        rows_word = "row" if len(keys) == 1 else "rows"
        lines.append(f"`{label}`: {status} — {len(keys)} {rows_word}: {', '.join(keys[:shown])}{more}")
    return lines


def flatten(meta: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts become dotted keys, lists comma-separated strings."""
    flat: dict[str, str] = {}
    for key, value in meta.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = ", ".join(str(v) for v in value)
        else:
            flat[name] = "" if value is None else str(value)
    return flat


# ---------------------------------------------------------------------------------------------------------- images


# ------------------------------------------------------------------------------------------------------ leaderboard

CUT = "✂"
BOARD_COLUMNS = ["#", "method", "hole PSNR dB [95 % CI]", "hole SSIM", "s / image", "iterations", "n"]


def _iterations(group: pd.DataFrame) -> tuple[int | None, int | None]:
    """(median iterations run, the preset's iterations) of one configuration's ok rows; (None, None) when it is not
    iterative."""
    ran = group["iterations"].astype(float).dropna()
    if ran.empty or ran.median() <= 0:
        return None, None
    return int(ran.median()), preset_iterations(group.iloc[0])


def leaderboard(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per (mask, label) of the ok rows, ranked within each mask kind by mean hole PSNR (best first):
    mask, rank, label, method, psnr_hole (mean of the finite values), low/high (95 % bootstrap interval), n (finite),
    not_finite, ssim_hole, seconds (mean per image), iterations (median run), preset_iterations, cut."""
    out = []
    for (mask, label), group in ok.groupby(["mask", "label"], sort=False):
        values = group["psnr_hole"].astype(float)
        kept = values[np.isfinite(values)].to_numpy()
        low, high = compare.bootstrap_ci(kept)
        ran, full = _iterations(group)
        out.append({"mask": mask, "label": label, "method": str(group["method"].iloc[0]),
                    "psnr_hole": kept.mean() if len(kept) else np.nan, "low": low, "high": high, "n": len(kept),
                    "not_finite": len(values) - len(kept), "ssim_hole": group["ssim_hole"].astype(float).mean(),
                    "seconds": group["seconds"].astype(float).mean(), "iterations": ran,
                    "preset_iterations": full, "cut": bool(ran and full and ran < full)})
    board = pd.DataFrame(out)
    if board.empty:
        return board
    order = {mask: i for i, mask in enumerate(ok["mask"].unique())}
    board = board.assign(order=board["mask"].map(order), key=-board["psnr_hole"].fillna(-np.inf))
    board = board.sort_values(["order", "key"], kind="stable").drop(columns=["order", "key"])
    board["rank"] = board.groupby("mask", sort=False).cumcount() + 1
    return board.reset_index(drop=True)


def _count(value: Any) -> int | None:
    """An iteration count from a table cell: None for a missing one (None, NaN, NA)."""
    return None if value is None or pd.isna(value) else int(value)


def _iterations_text(row: Any) -> str:
    """``40 / 6001 ✂`` (run / the preset's, cut), ``40`` without a known preset, ``—`` for a one-shot method."""
    ran, full = _count(row.iterations), _count(row.preset_iterations)
    if ran is None:
        return "—"
    return str(ran) if full is None else f"{ran} / {full}" + (f" {CUT}" if row.cut else "")


def leaderboard_table(board: pd.DataFrame, mask: str | None = None) -> Table:
    """The leaderboard of one mask kind (title: the kind), or of all kinds in one table grouped by a mask column.
    Best hole PSNR, hole SSIM and seconds per image of each kind highlighted."""
    part = board if mask is None else board[board["mask"] == mask]
    rows = []
    for r in part.itertuples():
        inf = f" (+{r.not_finite} inf)" if r.not_finite else ""
        cells = [Cell(str(r.rank), sort=r.rank), Cell(r.label),
                 Cell(interval(r.psnr_hole, r.low, r.high, 2, sign=False) + inf, sort=finite(r.psnr_hole)),
                 Cell(num(r.ssim_hole, 3) if math.isfinite(r.ssim_hole) else "", sort=finite(r.ssim_hole)),
                 Cell(num(r.seconds, None) if math.isfinite(r.seconds) else "", sort=finite(r.seconds)),
                 Cell(_iterations_text(r), sort=_count(r.iterations)),
                 Cell(str(r.n), sort=r.n)]
        rows.append(([Cell(str(r.mask))] if mask is None else []) + cells)
    columns = (["mask"] if mask is None else []) + BOARD_COLUMNS
    table = Table(mask if mask is not None else "Leaderboard per mask kind", columns, rows,
                  group="mask" if mask is None else None)
    mark_best(table, ["hole PSNR dB [95 % CI]", "hole SSIM"])
    return mark_best(table, ["s / image"], higher=False)


def _lead(ok: pd.DataFrame, board: pd.DataFrame, mask: str) -> str:
    """``biharmonic leads text by 1.82 dB over ns (paired 95 % CI [...], n = 4)`` or a weaker claim when the paired
    interval holds 0."""
    part = board[(board["mask"] == mask) & board["psnr_hole"].notna()]
    first = part.iloc[0]
    if len(part) < 2:
        return f"`{first.label}` alone on `{mask}`"
    second = part.iloc[1]
    summary = compare.summarise(compare.paired(ok, first.label, second.label, mask))
    gap = first.psnr_hole - second.psnr_hole
    low, high, n = summary["d_psnr_low"], summary["d_psnr_high"], summary["n"]
    if not (math.isfinite(low) and low > 0):
        detail = "a lead the paired 95 % interval does not separate from zero" if math.isfinite(low) \
            else "too few paired units for an interval"
        return f"`{first.label}` on `{mask}` ({gap:.2f} dB ahead of `{second.label}`, {detail}, n = {n})"
    return f"`{first.label}` on `{mask}` ({gap:.2f} dB ahead of `{second.label}`, paired 95 % CI " \
           f"[{low:.2f}, {high:.2f}] dB, n = {n})"


def _dip_gap(board: pd.DataFrame, family: dict[str, str], mask: str) -> str | None:
    """``dip-skip[text] 6.33 dB behind on text`` for the best DIP configuration of a mask kind, None without DIP."""
    part = board[(board["mask"] == mask) & board["psnr_hole"].notna()]
    dip = part[part["method"].map(family) == "dip"]
    if dip.empty or len(dip) == len(part):
        return None
    best, top = dip.iloc[0], part.iloc[0]
    if best.label == top.label:
        return f"leads on `{mask}` (`{best.label}`)"
    return f"{top.psnr_hole - best.psnr_hole:.2f} dB behind on `{mask}` (`{best.label}`)"


def leaderboard_sentences(ok: pd.DataFrame, board: pd.DataFrame, family: dict[str, str]) -> list[str]:
    """Two or three sentences read off the numbers: who leads each mask kind and by how much, where DIP stands, and
    the caveat (cut DIP fits, few units)."""
    if board.empty or board["psnr_hole"].isna().all():
        return ["No method finished with a finite hole PSNR: there is nothing to rank."]
    masks = [m for m in board["mask"].unique() if board.loc[board["mask"] == m, "psnr_hole"].notna().any()]
    out = ["By mean hole PSNR the leader is " + "; ".join(_lead(ok, board, m) for m in masks) + "."]
    gaps = [text for text in (_dip_gap(board, family, m) for m in masks) if text]
    if gaps:
        out.append("The best DIP configuration is " + "; ".join(gaps) + ".")
    cut = board[board["cut"]]
    caveats = []
    if len(cut):
        ran = "–".join(sorted({str(int(v)) for v in cut["iterations"]}, key=int))
        full = sorted({int(v) for v in cut["preset_iterations"]})
        span = f"{full[0]}" if len(full) == 1 else f"{full[0]}–{full[-1]}"
        caveats.append(f"{cut['label'].nunique()} DIP configuration(s) are cut to {ran} of their presets' {span} "
                       f"iterations ({CUT}), so their rows are early-stopped fits, not the presets' results")
    n_low, n_high = int(board["n"].min()), int(board["n"].max())
    caveats.append(f"each mean is over {n_low if n_low == n_high else f'{n_low}–{n_high}'} (image, seed) unit(s)")
    out.append("Caveat: " + "; ".join(caveats) + ".")
    return out


def short_fit_lines(board: pd.DataFrame) -> list[str]:
    """One line per DIP configuration whose ok rows ran fewer iterations than its preset's full count."""
    cut = board[board["cut"]].drop_duplicates("label") if len(board) else board
    return [f"`{r.label}`: {int(r.iterations)} iterations instead of the preset's {int(r.preset_iterations)}"
            for r in cut.itertuples()]
