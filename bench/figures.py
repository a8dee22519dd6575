"""The figures of a run's report, drawn with matplotlib's object API (``Figure`` + Agg, no pyplot state).

Every figure is written atomically as ``NAME.png`` next to ``NAME.csv``, which holds exactly the numbers drawn. The
functions take the report's tidy tables: ``ok`` is the ``results.csv`` rows with status ok plus a ``label`` column
(``method`` or ``method[preset]``); ``curves`` is ``curves.csv`` restricted to those rows, with ``label`` too.
When a figure's data is absent the function raises ``FigureSkipped`` whose message says why, in a few words.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image

from dip_bench.bench.atomic import write_bytes, write_text
from dip_bench.bench.results import row_id

DPI = 120
MAX_GRID_ROWS = 6


class FigureSkipped(Exception):
    """A figure cannot be drawn because its data is absent; the message is the reason."""


def palette(labels: list[str]) -> dict[str, tuple[float, ...]]:
    """One fixed colour per method label, in the given order, so all figures agree."""
    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _save(figure: Figure, data: pd.DataFrame, out_dir: Path, name: str) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    path = Path(out_dir) / f"{name}.png"
    write_bytes(path, buffer.getvalue())
    text = io.StringIO()
    data.to_csv(text, index=False, float_format="%.6g")
    write_text(path.with_suffix(".csv"), text.getvalue())
    return path


def _read_png(path: Path) -> np.ndarray:
    """uint8 H x W (gray) or H x W x 3."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L" if image.mode in ("L", "I;16", "I") else "RGB"))


def _show(ax, image: np.ndarray | None, title: str, placeholder: str = "file missing") -> None:  # noqa: ANN001
    if image is None:
        ax.text(0.5, 0.5, placeholder, ha="center", va="center", transform=ax.transAxes, color="0.4")
    elif image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid_pairs(ok: pd.DataFrame, inputs: Path, limit: int) -> list[tuple[str, str]]:
    """(image, mask) pairs with a masked input on disk, round-robin over mask kinds so the rows show variety."""
    by_mask: dict[str, list[str]] = {}
    for image, mask in ok[["image", "mask"]].drop_duplicates().itertuples(index=False):
        if (inputs / f"{image}__{mask}.png").exists():
            by_mask.setdefault(str(mask), []).append(str(image))
    chosen: list[tuple[str, str]] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(images) for images in by_mask.values()):
        chosen += [(images[depth], mask) for mask, images in by_mask.items() if depth < len(images)]
        depth += 1
    return chosen[:limit]


def grid(ok: pd.DataFrame, run_dir: Path, out_dir: Path, max_rows: int = MAX_GRID_ROWS) -> Path:
    """``grid.png``: one row per (image, mask) pair (at most ``max_rows``, lowest seed), columns masked input, each
    method's composited output titled with its PSNR, ground truth."""
    run_dir = Path(run_dir)
    inputs, outputs = run_dir / "inputs", run_dir / "outputs"
    if not outputs.is_dir() or not inputs.is_dir():
        raise FigureSkipped(f"no {'outputs' if not outputs.is_dir() else 'inputs'}/ folder in the run folder")
    pairs = _grid_pairs(ok, inputs, max_rows)
    if not pairs:
        raise FigureSkipped("no masked input images in inputs/ for the ok rows")
    labels = list(ok["label"].unique())
    figure = Figure(figsize=(2.0 * (len(labels) + 2), 2.2 * len(pairs)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(pairs), len(labels) + 2, squeeze=False))
    drawn = []
    for r, (image, mask) in enumerate(pairs):
        rows = ok[(ok["image"].astype(str) == image) & (ok["mask"].astype(str) == mask)]
        ratio = rows["hole_ratio"].dropna()
        hole = f", {100 * ratio.iloc[0]:.0f} % hole" if len(ratio) else ""
        _show(axes[r, 0], _read_png(inputs / f"{image}__{mask}.png"), f"input: {image}\n{mask}{hole}")
        for c, label in enumerate(labels, start=1):
            mine = rows[rows["label"] == label].sort_values("seed")
            if mine.empty:
                _show(axes[r, c], None, label, placeholder="not run on this pair")
                continue
            row = mine.iloc[0].to_dict()
            path = outputs / f"{row_id(row)}.png"
            title = f"{label}\n{row['psnr']:.2f} dB (hole {row['psnr_hole']:.2f})"
            _show(axes[r, c], _read_png(path) if path.exists() else None, title)
            drawn.append({"image": image, "mask": mask, "label": label, "seed": int(row["seed"]),
                          "psnr": row["psnr"], "psnr_hole": row["psnr_hole"],
                          "file": f"outputs/{path.name}" if path.exists() else ""})
        truth = inputs / f"{image}.png"
        _show(axes[r, -1], _read_png(truth) if truth.exists() else None, "ground truth")
    figure.suptitle("Composited outputs (PSNR over the whole image; hole PSNR in brackets)")
    return _save(figure, pd.DataFrame(drawn), out_dir, "grid")


def curves(curves: pd.DataFrame, out_dir: Path, colours: dict[str, tuple[float, ...]]) -> Path:
    """``curves.png``: PSNR vs iteration, one subplot per mask kind, one line per method label (mean over the
    images and seeds of that label and mask at each logged iteration)."""
    data = curves.dropna(subset=["psnr"])
    if data.empty:
        raise FigureSkipped("no PSNR curves in curves.csv (no iterative method finished)")
    mean = (data.groupby(["mask", "label", "iteration"], sort=False)["psnr"]
            .agg(psnr_mean="mean", n="count").reset_index())
    masks = list(mean["mask"].unique())
    ncols = min(3, len(masks))
    nrows = math.ceil(len(masks) / ncols)
    figure = Figure(figsize=(4.8 * ncols, 3.6 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, mask in zip(axes, masks):
        for label, line in mean[mean["mask"] == mask].groupby("label", sort=False):
            line = line.sort_values("iteration")
            ax.plot(line["iteration"], line["psnr_mean"], label=label, color=colours.get(label), linewidth=1.4,
                    marker="o" if len(line) <= 20 else None, markersize=3)
        ax.set_title(f"mask: {mask}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[len(masks):]:
        ax.set_visible(False)
    figure.suptitle("PSNR vs iteration (mean over images and seeds)")
    return _save(figure, mean, out_dir, "curves")


def _grouped_bars(ax, table: pd.DataFrame, colours: dict[str, tuple[float, ...]], ylabel: str) -> None:  # noqa: ANN001
    masks = list(table["mask"].unique())
    labels = list(table["label"].unique())
    width = 0.8 / len(labels)
    x = np.arange(len(masks))
    for i, label in enumerate(labels):
        mine = table[table["label"] == label].set_index("mask").reindex(masks)
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, mine["mean"], width, yerr=mine["std"].fillna(0.0),
               capsize=2, label=label, color=colours.get(label))
    ax.set_xticks(x, masks, rotation=30, ha="right")
    ax.set_xlabel("mask kind")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def psnr_by_mask(ok: pd.DataFrame, out_dir: Path, colours: dict[str, tuple[float, ...]]) -> Path:
    """``psnr_by_mask.png``: grouped bars of mean ± std PSNR (left) and hole PSNR (right) per mask kind and method."""
    parts = []
    for column in ("psnr", "psnr_hole"):
        values = ok[["label", "mask", column]].replace([np.inf, -np.inf], np.nan).dropna()
        stats = values.groupby(["mask", "label"], sort=False)[column].agg(["mean", "std", "count"]).reset_index()
        parts.append(stats.assign(metric=column).rename(columns={"count": "n"}))
    table = pd.concat(parts, ignore_index=True)
    if table.empty:
        raise FigureSkipped("no finite PSNR values in the ok rows")
    figure = Figure(figsize=(max(8.0, 1.2 * table["mask"].nunique() * 2 + 3), 4.2), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, (column, title) in zip(axes, (("psnr", "whole image (composited)"), ("psnr_hole", "hole only"))):
        mine = table[table["metric"] == column]
        if mine.empty:
            ax.set_visible(False)
            continue
        _grouped_bars(ax, mine, colours, "PSNR (dB)")
        ax.set_title(f"PSNR, {title}")
    axes[0].legend(fontsize=8)
    figure.suptitle("Mean PSNR per mask kind (error bars: std over images and seeds)")
    return _save(figure, table[["metric", "mask", "label", "mean", "std", "n"]], out_dir, "psnr_by_mask")


def speed(ok: pd.DataFrame, out_dir: Path, colours: dict[str, tuple[float, ...]]) -> Path:
    """``speed.png``: mean seconds per image per method (log scale) and, for iterative methods, ms per iteration."""
    timed = ok.dropna(subset=["seconds"])
    if timed.empty:
        raise FigureSkipped("no timings in the ok rows")
    devices = timed["device"].fillna("?").astype(str)
    several = devices.nunique() > 1
    timed = timed.assign(bar=timed["label"] + (("\n" + devices) if several else ""))
    ms = timed["seconds_per_iter"] * 1000.0
    timed = timed.assign(ms_per_iter=ms.where(timed["iterations"].fillna(0) > 0))
    table = (timed.groupby(["bar", "label", "device"], sort=False)
             .agg(seconds_mean=("seconds", "mean"), seconds_std=("seconds", "std"), n=("seconds", "count"),
                  ms_per_iter_mean=("ms_per_iter", "mean"), ms_per_iter_std=("ms_per_iter", "std"))
             .reset_index())
    iterative = table.dropna(subset=["ms_per_iter_mean"])
    figure = Figure(figsize=(6.0 + 4.0 * (not iterative.empty) + 0.3 * len(table), 4.4), layout="constrained")
    axes = figure.subplots(1, 2 if not iterative.empty else 1, squeeze=False).ravel()
    where = "" if several else f" on {devices.iloc[0]}"
    panels = [(axes[0], table, "seconds", "seconds per image (log scale)", f"Time per image{where}")]
    if not iterative.empty:
        panels.append((axes[1], iterative, "ms_per_iter", "ms per iteration", f"Time per iteration{where}"))
    for ax, data, column, ylabel, title in panels:
        x = np.arange(len(data))
        ax.bar(x, data[f"{column}_mean"], yerr=data[f"{column}_std"].fillna(0.0), capsize=3,
               color=[colours.get(label) for label in data["label"]])
        ax.set_xticks(x, data["bar"], rotation=30, ha="right")
        ax.set_xlim(-0.5 - 0.5 * (len(x) < 3), len(x) - 0.5 + 0.5 * (len(x) < 3))
        ax.set_xlabel("method")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_yscale("log")
    return _save(figure, table.drop(columns="bar"), out_dir, "speed")
