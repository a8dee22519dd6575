"""The comparison report of a run folder: ``report.md``, its HTML twin ``report.html`` and ``figures/*.png`` (each
with the CSV of the numbers drawn), from ``results.csv``, ``curves.csv``, ``meta.json``, ``inputs/`` and ``outputs/``
(layout in ``bench.results``).

Averages live only here, never in the results: only rows with status ok enter them; every other row is listed
under "Skipped and failed". Methods are labelled ``method`` or ``method[preset]``; rows, columns and methods keep the
order in which the run wrote them.
"""
from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dip_bench.contract import UserError
from dip_bench.bench import figures
from dip_bench.bench.atomic import write_text
from dip_bench.bench.paper import table1_summary, write_table1
from dip_bench.bench.results import KEY, META, RESULTS, read_curves, read_results

REPORT_MD, REPORT_HTML, FIGURES = "report.md", "report.html", "figures"
BIN_EDGES = np.round(np.linspace(0.0, 1.0, 11), 1)

PROTOCOL = (
    "**Metric protocol.** All metrics are `skimage.metrics` on float images in [0, 1] with `data_range=1`; SSIM uses "
    "the Gaussian settings of Wang et al. 2004 (window σ = 1.5, population covariance), not skimage's defaults. "
    "**PSNR** and **SSIM** are over the whole *composited* image (the known pixels pasted back), as inpainting papers "
    "report them. Since the known pixels are then exact, whole PSNR = hole PSNR + 10·log10(N / N_hole) (N pixels, "
    "N_hole of them in the hole): whole-image PSNR mostly measures the hole size, so compare methods only within one "
    "mask kind or one hole-ratio bin, never across them. **Hole PSNR** and **hole SSIM** are over the hole pixels "
    "only (hole SSIM: the SSIM map averaged over the hole). **Raw PSNR** is the DIP network's raw, uncomposited "
    "output over the whole image, the protocol of Table 1 of the DIP paper (Ulyanov et al. 2018); **best PSNR** is "
    "the best raw PSNR seen during the fit and the iteration where it occurred (an oracle: it needs the clean "
    "image). Only rows with status ok enter the averages; ± is the standard deviation over images and seeds; n is "
    "the number of rows per cell; an infinite PSNR (an exact fill) is left out of the mean and counted as +k inf."
)

Block = tuple[Any, ...]  # ("h", level, text) | ("p", text) | ("list", items) | ("table", frame) | ("figure", ...)


# ---------------------------------------------------------------------------------------------------------- loading

def method_label(method: str, preset: str) -> str:
    """``dip-skip[text]`` when a preset is set, else the method name."""
    return f"{method}[{preset}]" if preset else str(method)


def _key_strings(table: pd.DataFrame) -> pd.Series:
    seed = pd.to_numeric(table["seed"], errors="coerce").astype("Int64").astype(str)
    parts = [table[c].fillna("").astype(str) for c in KEY if c != "seed"] + [seed]
    return pd.Series(["\x1f".join(values) for values in zip(*parts)], index=table.index, dtype=object)


def load_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], str | None]:
    """(results with ``label``, curves of ok rows with ``label``, meta dict, meta problem or None).

    A missing folder, a folder without ``results.csv`` or one without rows is a ValueError naming the fix."""
    run_dir = Path(run_dir)
    fix = f"run `dip-bench run --out {run_dir}` first"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; {fix}")
    if not (run_dir / RESULTS).exists():
        raise UserError(f"{run_dir}: no {RESULTS} in this folder; {fix}")
    results = read_results(run_dir)
    if results.empty:
        raise UserError(f"{run_dir / RESULTS}: no rows yet; {fix}")
    results["status"] = results["status"].fillna("failed: no status recorded").astype(str).str.strip()
    results["label"] = [method_label(m, p) for m, p in zip(results["method"].astype(str), results["preset"])]
    ok = results[results["status"] == "ok"]
    curves = read_curves(run_dir)
    if len(curves):
        curves["preset"] = curves["preset"].astype(object).fillna("").astype(str)
        curves = curves[_key_strings(curves).isin(set(_key_strings(ok)))].copy()
        curves["label"] = [method_label(m, p) for m, p in zip(curves["method"].astype(str), curves["preset"])]
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


# ----------------------------------------------------------------------------------------------------------- tables

def _num(value: float, digits: int | None) -> str:
    """Fixed ``digits`` decimals; when ``digits`` is None, 3 significant digits (whole numbers from 100 up)."""
    if not math.isfinite(value):
        return str(value)
    if digits is None:
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{value:.{digits}f}"


def _mean_std(mean: float, std: float, digits: int | None) -> str:
    if math.isnan(mean):
        return ""
    return _num(mean, digits) + (f" ± {_num(std, digits)}" if math.isfinite(std) else "")


def summary_table(ok: pd.DataFrame, value: str, index: list[str], column: str, digits: int,
                  column_order: list[Any] | None = None) -> tuple[pd.DataFrame, str]:
    """Cells ``mean ± std`` of ``value`` with rows ``index`` and columns ``column`` (first-appearance order unless
    ``column_order``), and a note on n: "n = k per cell" when uniform, else each cell carries ``(n=k)``.

    Infinite values (PSNR of an exact fill) are left out of mean, std and n and counted in the cell as ``+k inf``."""
    data = ok.dropna(subset=[value])
    if data.empty:
        return pd.DataFrame(), "no values"
    finite = data[value].where(np.isfinite(data[value]))
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
    return table.reset_index().rename(columns={"label": "method"}), note.strip()


def hole_bin(ratio: pd.Series) -> pd.Series:
    """Hole-ratio bins of 10 % as labels ``(0.1, 0.2]`` (half-open like Liu et al. 2018), categorical in order."""
    labels = [f"({lo:.1f}, {hi:.1f}]" for lo, hi in zip(BIN_EDGES[:-1], BIN_EDGES[1:])]
    return pd.cut(ratio, bins=BIN_EDGES, labels=labels, right=True)


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
            "best at iteration (median)": _int(group["best_iter"].median()),
            "iterations (median)": _int(group["iterations"].median()),
            "best − raw (dB)": _num(gap.mean(), 2) if len(gap) else "",
        })
    return pd.DataFrame(out)


def _int(value: float) -> str:
    return "" if not math.isfinite(value) else str(int(round(value)))


def time_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Per (method, device): n, seconds per image, ms per iteration (iterative methods), iterations, peak memory."""
    rows = ok.dropna(subset=["seconds"]).assign(device=lambda t: t["device"].fillna("?").astype(str))
    out = []
    for (label, device), group in rows.groupby(["label", "device"], sort=False):
        iterative = group[group["iterations"].fillna(0) > 0]
        ms = iterative["seconds_per_iter"].dropna() * 1000.0
        memory = group["peak_memory_mb"].dropna()
        out.append({
            "method": label, "device": device, "n": len(group),
            "s / image": _mean_std(group["seconds"].mean(), group["seconds"].std(), None),
            "ms / iteration": _mean_std(ms.mean(), ms.std(), None) if len(ms) else "",
            "iterations (median)": _int(iterative["iterations"].median()) if len(iterative) else "0",
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


# ---------------------------------------------------------------------------------------------------------- render

def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``table``'s columns (the index is not written)."""
    lines = ["| " + " | ".join(_cell(c) for c in table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def to_markdown(blocks: Iterable[Block]) -> str:
    parts = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            parts.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            parts.append(block[1])
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            parts.append(markdown_table(block[1]))
        elif kind == "figure":
            _, png, caption = block
            parts.append(f"![{caption}]({png})\n\n*{caption}* (data: [{Path(png).with_suffix('.csv')}]"
                         f"({Path(png).with_suffix('.csv')}))")
    return "\n\n".join(parts) + "\n"


CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.45}"
       "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;"
       "text-align:left}th{background:#f2f2f2}tr:nth-child(even){background:#fafafa}img{max-width:100%}"
       "code{background:#f2f2f2;padding:0 .2em}figcaption{font-style:italic}")


def to_html(blocks: Iterable[Block], title: str) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{_inline_html(block[1])}</p>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline_html(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "table":
            parts.append(block[1].to_html(index=False, na_rep="", border=0))
        elif kind == "figure":
            _, png, caption = block
            csv = Path(png).with_suffix(".csv")
            parts.append(f"<figure><a href='{png}'><img src='{png}' alt='{html.escape(caption)}'></a>"
                         f"<figcaption>{html.escape(caption)} (data: <a href='{csv}'>{csv}</a>)</figcaption></figure>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------------- report

def _figure(blocks: list[Block], run_dir: Path, name: str, caption: str, draw: Callable[[], Path]) -> None:
    """Draw one figure into ``blocks``, or a line saying why it was skipped (removing a stale one)."""
    try:
        path = draw()
    except figures.FigureSkipped as reason:
        for suffix in (".png", ".csv"):
            (run_dir / FIGURES / f"{name}{suffix}").unlink(missing_ok=True)
        blocks.append(("p", f"*Figure `{name}.png` skipped: {reason}.*"))
        return
    blocks.append(("figure", f"{FIGURES}/{path.name}", caption))


def _tables(blocks: list[Block], ok: pd.DataFrame, specs: list[tuple[str, str, int]], index: list[str],
            column: str, column_order: list[Any] | None = None) -> None:
    for title, value, digits in specs:
        table, note = summary_table(ok, value, index, column, digits, column_order)
        if table.empty:
            blocks.append(("p", f"{title}: no values in the ok rows."))
        else:
            blocks += [("p", f"**{title}** ({note})"), ("table", table)]


def build_blocks(run_dir: Path) -> tuple[list[Block], str]:
    """The report of ``run_dir`` as renderer-neutral blocks (drawing the figures on the way) and its title."""
    results, curves, meta, meta_problem = load_run(run_dir)
    ok = results[results["status"] == "ok"].copy()
    title = f"dip-bench report: {meta.get('suite') or Path(run_dir).resolve().name}"
    counts = results["status"].str.split(":").str[0].value_counts()
    blocks: list[Block] = [
        ("h", 1, title),
        ("p", f"Run folder `{Path(run_dir)}`: {len(results)} rows — {counts.get('ok', 0)} ok, "
              f"{counts.get('skipped', 0)} skipped, {len(results) - counts.get('ok', 0) - counts.get('skipped', 0)} "
              f"failed; {results['label'].nunique()} method(s), {results['image'].nunique()} image(s), "
              f"{results['mask'].nunique()} mask kind(s), "
              f"seeds {', '.join(map(str, sorted(results['seed'].unique())))}."),
        ("p", PROTOCOL),
    ]
    colours = figures.palette(list(ok["label"].unique()))
    out_dir = Path(run_dir) / FIGURES

    blocks.append(("h", 2, "Quality per mask kind"))
    if ok.empty:
        blocks.append(("p", "No row finished with status ok, so there is nothing to average."))
    else:
        _tables(blocks, ok, [("PSNR (dB), whole composited image", "psnr", 2),
                             ("SSIM, whole composited image", "ssim", 4),
                             ("Hole PSNR (dB)", "psnr_hole", 2), ("Hole SSIM", "ssim_hole", 4)], ["label"], "mask")
    _figure(blocks, run_dir, "psnr_by_mask", "Mean PSNR and hole PSNR per mask kind (error bars: std)",
            lambda: figures.psnr_by_mask(ok, out_dir, colours))
    if not ok.empty:
        blocks.append(("h", 2, "Quality per hole-ratio bin"))
        binned = ok.assign(bin=hole_bin(ok["hole_ratio"]))
        order = list(binned["bin"].cat.categories)
        _tables(blocks, binned, [("PSNR (dB) per hole-ratio bin", "psnr", 2),
                                 ("Hole PSNR (dB) per hole-ratio bin", "psnr_hole", 2)], ["label"], "bin", order)

        blocks += [("h", 2, "Per image and mask"),
                   ("p", "One row per (image, mask) pair, one column per method; mean ± std over seeds.")]
        _tables(blocks, ok, [("PSNR (dB)", "psnr", 2), ("Hole PSNR (dB)", "psnr_hole", 2)], ["image", "mask"], "label")

    blocks.append(("h", 2, "DIP: raw output and best PSNR along the fit"))
    dip = dip_table(ok)
    if dip.empty:
        blocks.append(("p", "No ok row of an iterative method with a raw output (no DIP rows)."))
    else:
        blocks.append(("table", dip))
    _figure(blocks, run_dir, "curves", "PSNR vs iteration of the iterative methods (mean over images and seeds)",
            lambda: figures.curves(curves, out_dir, colours))

    machine = meta.get("device_name") or meta.get("device")
    blocks += [("h", 2, "Speed"),
               ("p", "Wall time of the method call alone (no I/O, no metrics), as recorded by the run; compare "
                     "times only on the same device." + (f" Run device: `{machine}`." if machine else ""))]
    times = time_table(ok)
    blocks.append(("table", times) if not times.empty else ("p", "No timings in the ok rows."))
    _figure(blocks, run_dir, "speed", "Seconds per image (log scale) and ms per iteration",
            lambda: figures.speed(ok, out_dir, colours))

    blocks.append(("h", 2, "Examples"))
    _figure(blocks, run_dir, "grid", "Masked input, each method's composited output with its PSNR, ground truth",
            lambda: figures.grid(ok, Path(run_dir), out_dir))

    blocks.append(("h", 2, "Skipped and failed"))
    lines = not_ok_lines(results)
    blocks.append(("list", lines) if lines else ("p", "None: every row finished with status ok."))

    blocks.append(("h", 2, "Run metadata"))
    if meta_problem:
        blocks.append(("p", f"*{meta_problem}.*"))
    if meta:
        flat = flatten(meta)
        blocks.append(("table", pd.DataFrame({"key": list(flat), "value": list(flat.values())})))
    return blocks, title


def write_report(run_dir: Path) -> Path:
    """Write ``report.md``, ``report.html`` and ``figures/`` into ``run_dir``; return the path of ``report.md``."""
    run_dir = Path(run_dir)
    blocks, title = build_blocks(run_dir)
    table1 = write_table1(read_results(run_dir), run_dir)
    if table1 is not None:
        blocks.append(("h", 2, "Table 1 protocol (50 % of pixels dropped, raw output PSNR, dB)"))
        blocks.append(("table", table1_summary(pd.read_csv(table1)).round(2)))
    write_text(run_dir / REPORT_HTML, to_html(blocks, title))
    write_text(run_dir / REPORT_MD, to_markdown(blocks))
    return run_dir / REPORT_MD
