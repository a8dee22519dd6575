"""Everything the report's templates render, section by section, in reading order: the leaderboard per mask kind
with sentences read off its numbers, quality against cost, the grid of outputs; then, folded, the pair-by-pair
comparers, paired tables, ranks, hole-ratio bins, unpaired means, DIP fits, Table 1, skipped/failed rows, the
metric protocol and the run's metadata. Drawing the figures happens here, on the way.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dip_bench.bench.report import compare, figures
from dip_bench.bench.report import stopping as stop_report
from dip_bench.bench.report.cells import Section, Table
from dip_bench.bench.report.load import families, load_run
from dip_bench.bench.report.paper import table1_summary, write_table1
from dip_bench.bench.report.tables import (bin_tables, dip_table, flatten, headline_tables, leaderboard,
                                           leaderboard_sentences, leaderboard_table, not_ok_lines, pairing_table,
                                           rank_table, short_fit_lines, summary_table, time_table)
from dip_bench.bench.results import RunFolder, status_kinds

FIGURES, TABLES = "figures", "tables"

PROTOCOL = (
    "All metrics are `skimage.metrics` on float images in [0, 1] with `data_range=1`; SSIM uses "
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



def _figure(section: Section, run_dir: Path, name: str, caption: str, draw: Callable[[], Path],
            kind: str = "figure") -> None:
    """Draw one figure into ``section`` (shown, or as a ``link`` block), or a line saying why it was skipped
    (removing a stale one)."""
    try:
        path = draw()
    except figures.FigureSkipped as reason:
        for suffix in (".png", ".csv"):
            (run_dir / FIGURES / f"{name}{suffix}").unlink(missing_ok=True)
        section.blocks.append(("p", f"*Figure `{name}.png` skipped: {reason}.*"))
        return
    section.blocks.append((kind, {"src": f"{FIGURES}/{path.name}", "caption": caption,
                                      "data": f"{FIGURES}/{path.with_suffix('.csv').name}"}))


@dataclass
class Run:
    """What every section reads: the run folder, its rows, the ok rows, curves, families, colours, leaderboard."""

    run_dir: Path
    results: pd.DataFrame
    ok: pd.DataFrame
    curves: pd.DataFrame
    family: dict[str, str]
    colours: dict[str, tuple[float, ...]]
    board: pd.DataFrame

    @property
    def out_dir(self) -> Path:
        return self.run_dir / FIGURES


def _leaderboard_section(run: Run, boards: list[Table]) -> Section:
    section = Section("Leaderboard", "leaderboard", folded=False)
    section.blocks += [("p", sentence) for sentence in leaderboard_sentences(run.ok, run.board, run.family)]
    section.blocks.append(("boards", boards) if boards else ("p", "No row finished with status ok."))
    section.blocks.append(("p", "Ranked by mean hole PSNR (dB) over the ok rows, with its 95 % bootstrap interval; "
                                "hole SSIM and seconds per image (the method call alone) are means; iterations: run "
                                "/ the preset's (✂ = the fit was cut short); n: rows behind the mean. Best value of a "
                                "column within a mask kind highlighted. Compare means only within a mask kind; the "
                                "paired comparison below is the one to draw conclusions from."))
    gone = run.results[~run.results["label"].isin(set(run.ok["label"]))]
    if len(gone):
        names = ", ".join(f"`{label}`" for label in gone["label"].unique())
        section.blocks.append(("p", f"Not ranked (no ok row): {names}; see *Skipped and failed*."))
    _figure(section, run.run_dir, "summary", "The leaderboard and quality against cost on one image, for a slide",
            lambda: figures.summary(boards, run.ok, run.curves, run.out_dir, run.colours, compare.bootstrap_ci),
            kind="link")
    return section


def _cost_section(run: Run) -> Section:
    section = Section("Quality against cost", "cost", folded=False)
    _figure(section, run.run_dir, "quality_cost", "Hole PSNR against seconds per image, per mask kind. Markers: mean "
            "hole PSNR of the final outputs with its 95 % bootstrap interval, at the mean seconds per image; lines: "
            "each DIP configuration's hole PSNR along its fit at iteration × its seconds per iteration (scored by the "
            "harness along the fit; in older runs derived from the logged whole-image PSNR and masked loss, see "
            "`bench.report.figures.curve_hole_psnr`)",
            lambda: figures.quality_cost(run.ok, run.curves, run.out_dir, run.colours, compare.bootstrap_ci))
    return section


def _outputs_section(run: Run) -> Section:
    section = Section("Outputs", "outputs", folded=False)
    _figure(section, run.run_dir, "grid", "Masked input, the composited output of every method that ran on the pair "
                                          "(hole PSNR) and the ground truth, with a zoom on the largest hole",
            lambda: figures.grid(run.ok, run.run_dir, run.out_dir))
    return section


def _pairs_section(run: Run) -> Section | None:
    pairs = comparers(run.ok, run.run_dir) if len(run.ok) else []
    if not pairs:
        return None
    return Section("Pair by pair", "pairs", "Any two of input, outputs and ground truth of each "
                   "(image, mask) pair side by side, with a slider and a zoom on the largest hole.",
                   blocks=[("pairs", pairs)])


def _paired_section(run: Run, exports: dict[str, list[Table]]) -> Section:
    section = Section("Paired comparison", "paired", "Each method against the best classical baseline and against "
                      "dip-skip, per mask kind, on the units both finished: mean Δ with a 95 % interval, "
                      "wins/ties/losses; mean ranks; which comparisons are paired.")
    section.blocks.append(("p", f"Δ = method − reference (positive: the method is better), on the (image, seed) "
                                f"units where both finished with status ok; its mean comes with a 95 % percentile "
                                f"bootstrap interval over the units ({compare.RESAMPLES:,} resamples, numpy "
                                f"`default_rng({compare.SEED})`; with few units it shows their spread more than a "
                                f"population interval). A unit is a win when Δ hole PSNR ≥ {compare.TIE_DB} dB, a "
                                f"loss when ≤ −{compare.TIE_DB} dB, else a tie. Best Δ per column and mask kind "
                                f"highlighted."))
    tables = headline_tables(run.ok, run.family) if len(run.ok) else []
    section.blocks += [("table", t) for t in tables] or [("p", "No pair of methods finished on the same units.")]
    exports["headline"] = tables
    ranks = rank_table(run.ok) if len(run.ok) else None
    if ranks is not None:
        section.blocks.append(("table", ranks))
    exports["ranks"] = [ranks] if ranks is not None else []
    pairing, warnings = pairing_table(run.results)
    section.blocks.append(("table", pairing))
    section.blocks.append(("list", [f"⚠ {w}" for w in warnings]) if warnings else
                          ("p", "Every comparison is paired: within each mask kind, every method finished on the "
                                "same (image, seed) units."))
    return section


def _means_section(run: Run) -> Section:
    section = Section("Means and bins", "means", "Unpaired means ± standard deviation of "
                      "hole and whole-image PSNR/SSIM per mask kind, and hole PSNR per 10 % hole-ratio bin.")
    for name, value, digits in [("Hole PSNR (dB)", "psnr_hole", 2), ("Hole SSIM", "ssim_hole", 4),
                                ("PSNR (dB), whole composited image", "psnr", 2),
                                ("SSIM, whole composited image", "ssim", 4)]:
        frame, note = summary_table(run.ok, value, ["label"], "mask", digits)
        if not frame.empty:
            section.blocks.append(("table", Table.from_frame(name, frame, note)))
    section.blocks.append(("p", "Hole PSNR per 10 % hole-ratio bin, as the inpainting literature reports irregular "
                                "masks; mask kinds that differ only in their hole ratio (`strokes-10-20` … "
                                "`strokes-40-50`) form one family; families are never pooled."))
    section.blocks += [("table", t) for t in bin_tables(run.ok)]
    return section


def _dip_section(run: Run) -> Section:
    section = Section("DIP fits and time", "dip", "Raw and best PSNR along each DIP fit, PSNR curves, "
                      "which fits were cut short, and time per image and per iteration.")
    short = short_fit_lines(run.board)
    if short:
        section.blocks.append(("list", [f"Cut short ({'✂'}): {line}" for line in short]))
        section.blocks.append(("p", "The full comparison, with the presets' iteration counts at 512 px, is the "
                                    "`standard` suite (GPU); `gpu-quick` runs every method at full iterations on a "
                                    "few pairs within a short GPU lease."))
    frame = dip_table(run.ok)
    section.blocks.append(("table", Table.from_frame("Raw output and best PSNR along the fit", frame))
                          if not frame.empty else ("p", "No ok row of an iterative method (no DIP rows)."))
    _figure(section, run.run_dir, "curves", "Raw PSNR vs iteration of the iterative methods (mean over images and "
                                            "seeds)", lambda: figures.curves(run.curves, run.out_dir, run.colours))
    times = time_table(run.ok)
    section.blocks.append(("table", Table.from_frame("Time per image and per iteration", times,
                                                     "wall time of the method call alone (no I/O, no metrics); "
                                                     "compare times only on the same device"))
                          if not times.empty else ("p", "No timings in the ok rows."))
    return section


def _stopping_section(run: Run) -> Section | None:
    tables = stop_report.tables(run.ok, run.curves, compare.bootstrap_ci)
    if not tables:
        return None
    section = Section("When to stop", "stopping", "Each stopping rule of the DIP fits against the fixed iteration "
                      "count and the oracle peak (best hole PSNR along the fit): gap, rows near the peak, time saved.")
    section.blocks += [("table", table) for table in tables]
    _figure(section, run.run_dir, "stopping", "Hole PSNR along a few fits with each rule's chosen iterate (marker) "
            "and its stop (dotted); `bench.report.stopping`", lambda: stop_report.figure(run.ok, run.curves,
                                                                                         run.out_dir))
    return section


def _table1_section(run: Run) -> Section | None:
    table1 = write_table1(run.results, run.run_dir)
    if table1 is None:
        return None
    return Section("Table 1 protocol", "table1", "The DIP paper's Table 1 protocol: 50 % of pixels dropped, raw "
                   "output PSNR (dB) per image across seeds, beside the paper's number.",
                   blocks=[("table", Table.from_frame("", table1_summary(pd.read_csv(table1)).round(2)))])


def _about_sections(run: Run, meta: dict[str, Any], meta_problem: str | None) -> list[Section]:
    lines = not_ok_lines(run.results)
    not_ok = Section("Skipped and failed", "not-ok", "Every row whose status is not ok, by method and reason.",
                     blocks=[("list", lines) if lines else ("p", "None: every row finished with status ok.")])
    protocol = Section("Metrics", "protocol", "How each metric is computed and which rows enter it.",
                       blocks=[("p", PROTOCOL)])
    about = Section("Metadata", "meta", "Suite, seeds, device, versions, commit and input checksums of the run.")
    if meta_problem:
        about.blocks.append(("p", f"*{meta_problem}.*"))
    if meta:
        flat = flatten(meta)
        about.blocks.append(("table", Table.from_frame("", pd.DataFrame({"key": list(flat),
                                                                          "value": list(flat.values())}))))
    return [not_ok, protocol, about]


def _headline(run: Run, meta: dict[str, Any]) -> str:
    """One line: rows by status, methods, images, mask kinds, seeds, device."""
    results = run.results
    counts = status_kinds(results["status"]).value_counts()
    failed = len(results) - counts.get("ok", 0) - counts.get("skipped", 0)
    machine = meta.get("device_name") or meta.get("device")
    return (f"{len(results)} rows — {counts.get('ok', 0)} ok, {counts.get('skipped', 0)} skipped, {failed} failed; "
            f"{results['label'].nunique()} method(s), {results['image'].nunique()} image(s), "
            f"{results['mask'].nunique()} mask kind(s), seeds {', '.join(map(str, sorted(results['seed'].unique())))}"
            + (f"; device `{machine}`." if machine else "."))


def build(run_dir: Path | RunFolder) -> dict[str, Any]:
    """Everything the templates render (drawing the figures on the way): title, summary, sections, exports."""
    folder = RunFolder.of(run_dir)
    run_dir = folder.path
    results, curves, meta, meta_problem = load_run(folder)
    ok = results[results["status"] == "ok"].copy()
    board = leaderboard(ok)
    run = Run(run_dir, results, ok, curves, families(list(results["method"].astype(str).unique())),
              figures.palette(list(ok["label"].unique())), board)
    boards = [leaderboard_table(board, mask) for mask in board["mask"].unique()] if len(board) else []
    exports: dict[str, list[Table]] = {"leaderboard": [leaderboard_table(board)] if len(board) else []}
    sections = [_leaderboard_section(run, boards), _cost_section(run), _outputs_section(run), _pairs_section(run),
                _paired_section(run, exports), _means_section(run) if len(ok) else None, _dip_section(run),
                _stopping_section(run), _table1_section(run), *_about_sections(run, meta, meta_problem)]
    return {"title": f"dip-bench report: {meta.get('suite') or run_dir.resolve().name}", "run_dir": str(run_dir),
            "summary": _headline(run, meta), "sections": [s for s in sections if s is not None],
            "exports": exports}
