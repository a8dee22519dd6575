"""The comparison report of a run folder: ``report.html`` (one file, sortable tables, an image comparer per pair),
``report.md``, ``figures/*.png`` (each with the CSV of the numbers drawn) and ``tables/headline.{tex,md}`` and
``tables/ranks.{tex,md}`` for papers. Rendered from the jinja2 templates in ``bench/templates``.

It reads only ``bench.results.read_results``/``read_curves``, ``meta.json`` and, for images, ``inputs/`` and each
row's ``output`` file. The headline is the paired comparison of ``bench.compare``: every method against the best
classical baseline and against ``dip-skip`` with its preset, per mask kind, on the units both finished. Averages live
only here: only rows with status ok enter them; every other row is counted and listed. Nothing is averaged across
mask kinds. Methods are labelled ``method`` or ``method[preset]``, DIP first.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from dip_bench.bench import balance, compare, figures
from dip_bench.bench.atomic import write_text
from dip_bench.bench.paper import table1_summary, write_table1
from dip_bench.bench.results import KEY, META, read_curves, read_results
from dip_bench.contract import UserError

REPORT_MD, REPORT_HTML, FIGURES, TABLES = "report.md", "report.html", "figures", "tables"
TEMPLATES = Path(__file__).with_name("templates")
FAMILY_ORDER = {"dip": 0, "learned": 1, "classical": 2}

PROTOCOL = (
    "**Metric protocol.** All metrics are `skimage.metrics` on float images in [0, 1] with `data_range=1`; SSIM uses "
    "the Gaussian settings of Wang et al. 2004 (window σ = 1.5, population covariance). **Hole PSNR** and **hole "
    "SSIM** are over the hole pixels only (hole SSIM: the SSIM map averaged over the hole); they are the headline "
    "metrics. **PSNR** and **SSIM** are over the whole *composited* image (known pixels pasted back), as inpainting "
    "papers report them; since the known pixels are then exact, whole PSNR = hole PSNR + 10·log10(N / N_hole), so it "
    "mostly measures the hole size: compare methods only within one mask kind or hole-ratio bin, never across them. "
    "**Raw PSNR** is the DIP net's uncomposited output over the whole image (Table 1 of Ulyanov et al. 2018); **best "
    "PSNR** the best raw PSNR seen along the fit (an oracle: it needs the clean image). Only rows with status ok "
    "enter the numbers; n is the number of rows (or paired units) behind each number; an infinite PSNR (an exact "
    "fill) is left out of means and counted."
)


@dataclass
class Cell:
    """One table cell: its text, whether it is the best of its column (within its mask kind), a numeric sort key."""

    text: str
    best: bool = False
    sort: float | None = None


@dataclass
class Table:
    """A rendered table: title, note (n, conventions), column names, rows of cells."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    note: str = ""
    group: str | None = None  # the column whose value changes start a new block (a mask kind)

    @classmethod
    def from_frame(cls, title: str, frame: pd.DataFrame, note: str = "") -> Table:
        rows = [[Cell(_text(value), sort=_sort_key(value)) for value in row] for row in frame.itertuples(index=False)]
        return cls(title, [str(c) for c in frame.columns], rows, note)


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)  # ("p" | "list" | "table" | "figure" | "pairs", x)


# ---------------------------------------------------------------------------------------------------------- loading

def method_label(method: str, preset: str) -> str:
    """``dip-skip[text]`` when a preset is set, else the method name."""
    return f"{method}[{preset}]" if preset else str(method)


def families(methods: list[str]) -> dict[str, str]:
    """Method name → registry family (``dip``, ``classical``, ``learned``, …; ``unknown`` when not registered here)."""
    from dip_bench.bench.registry import get_method

    out = {}
    for name in methods:
        try:
            out[name] = get_method(name).family
        except (UserError, ImportError):
            out[name] = "unknown"
    return out


def _mask_kinds() -> tuple[str, ...]:
    """The built-in mask kinds in their natural order (text, pixels50, boxes, strokes by hole ratio, region)."""
    from dip_bench.datasets import MASK_KINDS

    return tuple(MASK_KINDS)


def load_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], str | None]:
    """(results with ``label``, curves of the ok rows with ``label``, meta dict, meta problem or None).

    A missing folder or one without rows is a ``UserError`` naming the fix."""
    run_dir = Path(run_dir)
    fix = f"run `dip-bench run --out {run_dir}` first"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; {fix}")
    results = read_results(run_dir)
    if results.empty:
        raise UserError(f"{run_dir}: no result rows in this folder; {fix}")
    results["preset"] = results["preset"].astype(object).fillna("").astype(str)
    results["status"] = results["status"].astype(object).fillna("failed: no status recorded").astype(str).str.strip()
    results["label"] = [method_label(m, p) for m, p in zip(results["method"].astype(str), results["preset"])]
    family = families(list(results["method"].astype(str).unique()))
    label_order = {label: (FAMILY_ORDER.get(family[method], 3), label)
                   for label, method in zip(results["label"], results["method"].astype(str))}
    mask_order = {kind: i for i, kind in enumerate(_mask_kinds())}
    keys = [(mask_order.get(mask, len(mask_order)), str(mask), label_order[label])
            for mask, label in zip(results["mask"], results["label"])]
    results = results.iloc[sorted(range(len(results)), key=keys.__getitem__)].reset_index(drop=True)
    ok = results[results["status"] == "ok"]
    curves = read_curves(run_dir)
    if len(curves):
        curves["preset"] = curves["preset"].astype(object).fillna("").astype(str)
        curves["seed"] = pd.to_numeric(curves["seed"]).astype(int)
        keys = ok[KEY + ["label"]].astype({"seed": int})
        curves = curves.merge(keys, on=KEY)
    meta, problem = {}, None
    if (run_dir / META).exists():
        try:
            meta = json.loads((run_dir / META).read_text())
            if not isinstance(meta, dict):
                meta, problem = {}, f"{META} is not a JSON object"
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            problem = f"{META} is not valid JSON ({error})"
    else:
        problem = f"no {META} in the run folder"
    return results, curves, meta, problem


# ----------------------------------------------------------------------------------------------------------- format

def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def _sort_key(value: Any) -> float | None:
    """The number a cell sorts by: the value itself, or the first number in its text (``12.3 [11.9, 12.8]``)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value) if math.isfinite(float(value)) else None
    match = re.match(r"\s*([+−-]?\d+(?:\.\d+)?)", str(value))
    return float(match.group(1).replace("−", "-")) if match else None


def _num(value: float, digits: int | None) -> str:
    """Fixed ``digits`` decimals; when ``digits`` is None, 3 significant digits (whole numbers from 100 up)."""
    if not math.isfinite(value):
        return str(value)
    if digits is None:
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{value:.{digits}f}"


def _signed(value: float, digits: int) -> str:
    return "" if not math.isfinite(value) else f"{value:+.{digits}f}".replace("-", "−")


def _mean_std(mean: float, std: float, digits: int | None) -> str:
    if math.isnan(mean):
        return ""
    return _num(mean, digits) + (f" ± {_num(std, digits)}" if math.isfinite(std) else "")


def _int(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else str(int(round(value)))


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
    cells = pd.Series([(_mean_std(m, s, digits) + (f" (n={n})" if varies else "") if n else "")
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


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``table``'s columns (the index is not written)."""
    return md_table(Table.from_frame("", table))


def md_table(table: Table) -> str:
    """A markdown table; best cells in bold; pipes escaped."""
    def cell(c: Cell) -> str:
        text = c.text.replace("|", "\\|").replace("\n", " ")
        return f"**{text}**" if c.best and text else text
    lines = ["| " + " | ".join(c.replace("|", "\\|") for c in table.columns) + " |",
             "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows])


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "−": "$-$",
                 "±": r"$\pm$", "Δ": r"$\Delta$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in str(text))


def inline(text: str) -> Markup:
    """HTML of a line of report prose: escaped, with ``code``, **bold** and *italic* spans."""
    html = str(escape(text))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    html = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)
    return Markup(re.sub(r"\*([^*]+)\*", r"<em>\1</em>", html))


# ----------------------------------------------------------------------------------------------------------- tables

def _mark_best(table: Table, columns: list[str], higher: bool = True) -> Table:
    """Mark the best cell of each named column within each group of rows (consecutive rows with the same value in
    ``table.group``, or all rows)."""
    group = table.columns.index(table.group) if table.group else None
    blocks: list[list[list[Cell]]] = []
    for row in table.rows:
        if not blocks or (group is not None and row[group].text != blocks[-1][0][group].text):
            blocks.append([])
        blocks[-1].append(row)
    for name in columns:
        j = table.columns.index(name)
        for block in blocks:
            keys = [row[j].sort for row in block if row[j].sort is not None]
            if len(keys) < 2:
                continue
            best = max(keys) if higher else min(keys)
            for row in block:
                row[j].best = row[j].sort == best
    return table


def _interval(mean: float, low: float, high: float, digits: int) -> str:
    if not math.isfinite(mean):
        return ""
    if not math.isfinite(low):
        return f"{_signed(mean, digits)} (no interval: n = 1)"
    return f"{_signed(mean, digits)} [{_signed(low, digits)}, {_signed(high, digits)}]"


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
                         Cell(_interval(r.d_psnr, r.d_psnr_low, r.d_psnr_high, 2) + extra, sort=_finite(r.d_psnr)),
                         Cell(_interval(r.d_ssim, r.d_ssim_low, r.d_ssim_high, 4), sort=_finite(r.d_ssim)),
                         Cell(f"{r.wins}/{r.ties}/{r.losses}", sort=r.wins - r.losses)])
        table = Table(title, ["mask", "reference", "method", "n", "Δ hole PSNR (dB) [95 % CI]",
                              "Δ hole SSIM [95 % CI]", "wins/ties/losses"], rows, group="mask")
        tables.append(_mark_best(table, ["Δ hole PSNR (dB) [95 % CI]", "Δ hole SSIM [95 % CI]", "wins/ties/losses"]))
    return tables


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


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
    return _mark_best(table, masks, higher=False)


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
        tables.append(_mark_best(Table(f"Hole PSNR (dB) by hole-ratio bin, mask family `{family}` ({kinds})",
                                       ["method"] + bins, rows), bins))
    return tables


def pairing_table(results: pd.DataFrame) -> tuple[Table, list[str]]:
    """Per (mask, method): rows by status and whether its ok units are those of every competitor (paired)."""
    ok = results[results["status"] == "ok"]
    cover = balance.coverage(ok).set_index(["mask", "method"]) if len(ok) else pd.DataFrame()
    status = results["status"].str.split(":").str[0]
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
            "raw PSNR (dB)": _mean_std(group["psnr_raw"].mean(), group["psnr_raw"].std(), 2),
            "best PSNR (dB)": _mean_std(group["best_psnr"].mean(), group["best_psnr"].std(), 2),
            "best at iteration (median)": _int(group["best_iter"].astype(float).median()),
            "iterations (median)": _int(group["iterations"].astype(float).median()),
            "best − raw (dB)": _num(gap.mean(), 2) if len(gap) else "",
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
            "s / image": _mean_std(group["seconds"].mean(), group["seconds"].std(), None),
            "ms / iteration": _mean_std(ms.mean(), ms.std(), None) if len(ms) else "",
            "iterations (median)": _int(iterative["iterations"].astype(float).median()) if len(iterative) else "0",
            "peak memory (MB, max)": _num(memory.max(), 0) if len(memory) else "",
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


def short_fit_lines(ok: pd.DataFrame) -> list[str]:
    """One line per DIP configuration whose ok rows ran fewer iterations than its preset's full count."""
    from dip_bench.bench.registry import create

    lines = []
    for label, group in ok[ok["iterations"].fillna(0) > 0].groupby("label", sort=False):
        row = group.iloc[0]
        try:
            params = {k: v for k, v in json.loads(row["params"] or "{}").items() if k != "iterations"}
            full = int(create(str(row["method"]), seed=0, device="cpu", **params).config.iterations)
        except Exception:  # noqa: BLE001 - an unknown or changed method only loses this note
            continue
        ran = int(group["iterations"].astype(float).median())
        if ran < full:
            lines.append(f"`{label}`: {ran} iterations instead of the preset's {full}")
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

def comparers(ok: pd.DataFrame, run_dir: Path) -> list[dict[str, Any]]:
    """One entry per (image, mask) pair with inputs on disk: the images a reader can compare (masked input, each
    method that ran on the pair with its hole PSNR, ground truth) and the largest hole's box as fractions."""
    out = []
    for image, mask in figures.grid_pairs(ok, run_dir, limit=10_000):
        rows = figures.pair_rows(ok, image, mask)
        clean, masked = figures.input_paths(image, mask)
        hole = figures.hole_of(run_dir, image, mask)
        if hole is None:
            continue
        top, bottom, left, right = figures.crop_box(hole)
        height, width = hole.shape
        choices = [{"label": "input (masked)", "src": masked}]
        choices += [{"label": f"{row['label']} — hole {row['psnr_hole']:.2f} dB", "src": figures.output_path(row)}
                    for row in rows.to_dict("records") if (run_dir / figures.output_path(row)).exists()]
        choices.append({"label": "ground truth", "src": clean})
        best = int(np.argmax(rows["psnr_hole"].to_numpy(float))) + 1 if len(rows) else 0
        out.append({"image": image, "mask": mask, "choices": choices, "left": min(1, len(choices) - 1),
                    "right": best if best != 1 else len(choices) - 1,
                    "zoom": {"x": left / width, "y": top / height, "scale": width / (right - left)},
                    "hole": f"{100 * rows['hole_ratio'].iloc[0]:.0f} %" if len(rows) else ""})
    return out


# ---------------------------------------------------------------------------------------------------------- report

def _figure(section: Section, run_dir: Path, name: str, caption: str, draw: Any) -> None:
    """Draw one figure into ``section``, or a line saying why it was skipped (removing a stale one)."""
    try:
        path = draw()
    except figures.FigureSkipped as reason:
        for suffix in (".png", ".csv"):
            (run_dir / FIGURES / f"{name}{suffix}").unlink(missing_ok=True)
        section.blocks.append(("p", f"*Figure `{name}.png` skipped: {reason}.*"))
        return
    section.blocks.append(("figure", {"src": f"{FIGURES}/{path.name}", "caption": caption,
                                      "data": f"{FIGURES}/{path.with_suffix('.csv').name}"}))


def build(run_dir: Path) -> dict[str, Any]:
    """Everything the templates render (drawing the figures on the way): title, summary, sections, tables."""
    run_dir = Path(run_dir)
    results, curves, meta, meta_problem = load_run(run_dir)
    ok = results[results["status"] == "ok"].copy()
    family = families(list(results["method"].astype(str).unique()))
    title = f"dip-bench report: {meta.get('suite') or run_dir.resolve().name}"
    counts = results["status"].str.split(":").str[0].value_counts()
    failed = len(results) - counts.get("ok", 0) - counts.get("skipped", 0)
    machine = meta.get("device_name") or meta.get("device")
    summary = (f"{len(results)} rows — {counts.get('ok', 0)} ok, {counts.get('skipped', 0)} skipped, {failed} failed; "
               f"{results['label'].nunique()} method(s), {results['image'].nunique()} image(s), "
               f"{results['mask'].nunique()} mask kind(s), seeds "
               f"{', '.join(map(str, sorted(results['seed'].unique())))}" + (f"; device `{machine}`." if machine else "."))
    notes = []
    short = short_fit_lines(ok)
    if short:
        notes.append("**The DIP fits of this run are short**, cut to fit its time budget, so the DIP numbers here are "
                     "early-stopped fits, not the presets' results: " + "; ".join(short) + ". The full comparison, "
                     "with the presets' iteration counts at 512 px, is the `standard` suite (GPU); `gpu-quick` runs "
                     "every method at full iterations on a few pairs within a short GPU lease.")
    colours = figures.palette(list(ok["label"].unique()))
    out_dir = run_dir / FIGURES
    sections: list[Section] = []
    exports: dict[str, list[Table]] = {}

    head = Section("Paired comparison", "paired")
    head.blocks.append(("p", f"Per mask kind, each method against a reference on the (image, seed) units where both "
                             f"finished with status ok. Δ = method − reference (positive: the method is better); its "
                             f"mean comes with a 95 % percentile bootstrap interval over the units "
                             f"({compare.RESAMPLES:,} resamples, numpy `default_rng({compare.SEED})`; with few units "
                             f"it shows their spread more than a population interval). A unit is a win when Δ hole "
                             f"PSNR ≥ {compare.TIE_DB} dB, a loss when ≤ −{compare.TIE_DB} dB, else a tie. Best value "
                             f"per column and mask kind in bold."))
    tables = headline_tables(ok, family) if len(ok) else []
    head.blocks += [("table", t) for t in tables] or [("p", "No pair of methods finished on the same units.")]
    exports["headline"] = tables
    ranks = rank_table(ok) if len(ok) else None
    if ranks is not None:
        head.blocks.append(("table", ranks))
        exports["ranks"] = [ranks]
    pairing, warnings = pairing_table(results)
    head.blocks.append(("table", pairing))
    head.blocks.append(("list", [f"⚠ {w}" for w in warnings]) if warnings else
                       ("p", "Every comparison is paired: within each mask kind, every method finished on the same "
                             "(image, seed) units."))
    sections.append(head)

    cost = Section("Quality against cost", "cost")
    cost.blocks.append(("p", "Is DIP worth its time on this device? Markers: mean hole PSNR of the final outputs with "
                             "its 95 % bootstrap interval, at the mean seconds per image (the method call alone). "
                             "Lines: each DIP configuration's hole PSNR along its fit (mean over units) at iteration × "
                             "its seconds per iteration; the hole PSNR along the fit is derived from the logged whole-"
                             "image PSNR and masked loss of the same iterate (see `bench.figures.curve_hole_psnr`)."))
    _figure(cost, run_dir, "quality_cost", "Hole PSNR against seconds per image, per mask kind",
            lambda: figures.quality_cost(ok, curves, out_dir, colours, compare.bootstrap_ci))
    times = time_table(ok)
    cost.blocks.append(("table", Table.from_frame("Time per image and per iteration", times,
                                                  "wall time of the method call alone (no I/O, no metrics); compare "
                                                  "times only on the same device"))
                       if not times.empty else ("p", "No timings in the ok rows."))
    sections.append(cost)

    images = Section("Outputs, pair by pair", "images")
    pairs = comparers(ok, run_dir) if len(ok) else []
    if pairs:
        images.blocks.append(("pairs", pairs))
    _figure(images, run_dir, "grid", "Masked input, the composited output of every method that ran on the pair "
                                     "(hole PSNR) and the ground truth, with a zoom on the largest hole",
            lambda: figures.grid(ok, run_dir, out_dir))
    sections.append(images)

    if len(ok):
        bins = Section("By hole-ratio bin", "bins")
        bins.blocks.append(("p", "Hole PSNR per 10 % hole-ratio bin, as the inpainting literature reports irregular "
                                 "masks; mask kinds that differ only in their hole ratio (`strokes-10-20` … "
                                 "`strokes-40-50`) form one family; families are never pooled."))
        bins.blocks += [("table", t) for t in bin_tables(ok)]
        sections.append(bins)

        per_mask = Section("Means per mask kind", "per-mask")
        per_mask.blocks.append(("p", "Unpaired means ± standard deviation over images and seeds; the paired "
                                     "comparison above is the one to draw conclusions from."))
        for name, value, digits in [("Hole PSNR (dB)", "psnr_hole", 2), ("Hole SSIM", "ssim_hole", 4),
                                    ("PSNR (dB), whole composited image", "psnr", 2),
                                    ("SSIM, whole composited image", "ssim", 4)]:
            frame, note = summary_table(ok, value, ["label"], "mask", digits)
            if not frame.empty:
                per_mask.blocks.append(("table", Table.from_frame(name, frame, note)))
        sections.append(per_mask)

    dip = Section("DIP along the fit", "dip")
    frame = dip_table(ok)
    dip.blocks.append(("table", Table.from_frame("Raw output and best PSNR along the fit", frame))
                      if not frame.empty else ("p", "No ok row of an iterative method (no DIP rows)."))
    _figure(dip, run_dir, "curves", "Raw PSNR vs iteration of the iterative methods (mean over images and seeds)",
            lambda: figures.curves(curves, out_dir, colours))
    sections.append(dip)

    table1 = write_table1(read_results(run_dir), run_dir)
    if table1 is not None:
        paper = Section("Table 1 protocol (50 % of pixels dropped, raw output PSNR, dB)", "table1")
        paper.blocks.append(("table", Table.from_frame("", table1_summary(pd.read_csv(table1)).round(2))))
        sections.append(paper)

    lines = not_ok_lines(results)
    sections.append(Section("Skipped and failed", "not-ok", [("list", lines) if lines else
                                                             ("p", "None: every row finished with status ok.")]))
    about = Section("Run metadata", "meta")
    if meta_problem:
        about.blocks.append(("p", f"*{meta_problem}.*"))
    if meta:
        flat = flatten(meta)
        about.blocks.append(("table", Table.from_frame("", pd.DataFrame({"key": list(flat),
                                                                          "value": list(flat.values())}))))
    sections.append(about)
    return {"title": title, "run_dir": str(run_dir), "summary": summary, "notes": notes, "protocol": PROTOCOL,
            "sections": sections, "exports": exports}


def environment() -> jinja2.Environment:
    """The templates' environment: autoescape for HTML, none for markdown and LaTeX (escaped by filters)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(["html", "html.j2"]), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(inline=inline, md_table=md_table, latex=latex_escape)
    return env


def write_report(run_dir: Path) -> Path:
    """Write ``report.html``, ``report.md``, ``figures/`` and ``tables/`` into ``run_dir``; return ``report.md``."""
    run_dir = Path(run_dir)
    context = build(run_dir)
    env = environment()
    write_text(run_dir / REPORT_HTML, env.get_template("report.html.j2").render(**context))
    write_text(run_dir / REPORT_MD, env.get_template("report.md.j2").render(**context))
    for name, tables in context["exports"].items():
        if tables:
            write_text(run_dir / TABLES / f"{name}.tex", env.get_template("tables.tex.j2").render(tables=tables))
            write_text(run_dir / TABLES / f"{name}.md", env.get_template("tables.md.j2").render(tables=tables))
        else:
            for suffix in (".tex", ".md"):
                (run_dir / TABLES / f"{name}{suffix}").unlink(missing_ok=True)
    return run_dir / REPORT_MD
