"""The figures of a run's report, drawn with matplotlib's object API (``Figure`` + Agg, no pyplot state).

Every figure is written atomically as ``NAME.png`` next to ``NAME.csv``, which holds exactly the numbers drawn. The
functions take the report's tidy tables: ``ok`` is the ``results.csv`` rows with status ok plus a ``label`` column
(``method`` or ``method[preset]``); ``curves`` is ``curves.csv`` restricted to those rows, with ``label`` too.
When a figure's data is absent the function raises ``FigureSkipped`` whose message says why, in a few words.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from PIL import Image
from scipy import ndimage

from dip_bench.bench.atomic import write_bytes, write_text
from dip_bench.bench.results import KEY
from dip_bench.bench.seal import stored_mask

DPI = 120
MAX_GRID_PAIRS = 6
#: a derived hole-PSNR curve is drawn only when its last point lies within this many dB of the row's final value
CURVE_CHECK_DB = 2.0


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


def legacy_output(row: Mapping[str, Any]) -> str:
    """``outputs/<method>__<preset or ->__<image>__<mask>__s<seed>.png``, the output name of stores without an
    ``output`` column."""
    preset = row["preset"] if isinstance(row["preset"], str) and row["preset"] else "-"
    return f"outputs/{row['method']}__{preset}__{row['image']}__{row['mask']}__s{int(row['seed'])}.png"


def output_path(row: Mapping[str, Any]) -> str:
    """The row's output PNG relative to the run folder: its ``output`` column when set, else ``legacy_output``."""
    value = row.get("output")
    return str(value) if isinstance(value, str) and value else legacy_output(row)


def input_paths(image: str, mask: str) -> tuple[str, str]:
    """(clean image, masked input with white holes), relative to the run folder."""
    return f"inputs/{image}.png", f"inputs/{image}__{mask}.png"


def hole_of(run_dir: Path, image: str, mask: str) -> np.ndarray | None:
    """H x W bool, True = hole: the run's stored mask (``bench.seal.stored_mask``); for runs written before the row
    format /2, where the masked input differs from the clean image (closed by one pixel, since a white pixel of the
    image looks the same in both). None when the files are missing."""
    stored = stored_mask(run_dir, image, mask)
    if stored is not None:
        return ~stored
    clean, masked = (Path(run_dir) / path for path in input_paths(image, mask))
    if not clean.exists() or not masked.exists():
        return None
    a, b = _read_png(clean), _read_png(masked)
    if a.shape != b.shape:
        return None
    differs = a != b if a.ndim == 2 else (a != b).any(axis=-1)
    return ndimage.binary_closing(differs, iterations=1) | differs


def crop_box(hole: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a square zoom on the largest connected hole component (8-connectivity), centred
    on its deepest pixel (farthest from any known pixel, where a fill is hardest), six times that depth wide, between
    a quarter and a half of the shorter image side, inside the image; the whole image when there is no hole."""
    height, width = hole.shape
    if not hole.any():
        return 0, height, 0, width
    labels, count = ndimage.label(hole, structure=np.ones((3, 3), bool))
    sizes = ndimage.sum_labels(hole, labels, index=np.arange(1, count + 1))
    largest = labels == 1 + int(np.argmax(sizes))
    depth = ndimage.distance_transform_edt(largest)
    centre_r, centre_c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    short = min(height, width)
    side = int(np.clip(6 * depth.max(), short / 4, short / 2))
    top = int(np.clip(centre_r - side // 2, 0, height - side))
    left = int(np.clip(centre_c - side // 2, 0, width - side))
    return top, top + side, left, left + side


def grid_pairs(ok: pd.DataFrame, run_dir: Path, limit: int = MAX_GRID_PAIRS) -> list[tuple[str, str]]:
    """(image, mask) pairs with both inputs on disk, round-robin over mask kinds so the rows show variety."""
    by_mask: dict[str, list[str]] = {}
    for image, mask in ok[["image", "mask"]].drop_duplicates().itertuples(index=False):
        if all((Path(run_dir) / path).exists() for path in input_paths(str(image), str(mask))):
            by_mask.setdefault(str(mask), []).append(str(image))
    chosen: list[tuple[str, str]] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(images) for images in by_mask.values()):
        chosen += [(images[depth], mask) for mask, images in by_mask.items() if depth < len(images)]
        depth += 1
    return chosen[:limit]


def pair_rows(ok: pd.DataFrame, image: str, mask: str) -> pd.DataFrame:
    """The ok rows of one pair, one per method label (its lowest seed), in run order."""
    rows = ok[(ok["image"].astype(str) == image) & (ok["mask"].astype(str) == mask)]
    return rows.sort_values("seed", kind="stable").drop_duplicates("label").sort_index()


def grid(ok: pd.DataFrame, run_dir: Path, out_dir: Path, max_pairs: int = MAX_GRID_PAIRS) -> Path:
    """``grid.png``: per (image, mask) pair two rows, the full images and below them a zoom on the largest hole
    (the square marked on the input); columns: masked input, each method that ran on the pair (composited output,
    hole PSNR), ground truth."""
    run_dir = Path(run_dir)
    pairs = grid_pairs(ok, run_dir, max_pairs)
    if not pairs:
        raise FigureSkipped("no inputs/ images for the ok rows")
    blocks = [(image, mask, pair_rows(ok, image, mask)) for image, mask in pairs]
    ncols = max(len(rows) for _, _, rows in blocks) + 2
    figure = Figure(figsize=(1.75 * ncols, 3.7 * len(blocks)), layout="constrained")
    axes = figure.subplots(2 * len(blocks), ncols, squeeze=False)
    drawn = []
    for b, (image, mask, rows) in enumerate(blocks):
        hole = hole_of(run_dir, image, mask)
        box = crop_box(hole) if hole is not None else None
        clean, masked = input_paths(image, mask)
        ratio = rows["hole_ratio"].dropna()
        percent = f", {100 * ratio.iloc[0]:.0f} % hole" if len(ratio) else ""
        panels = [(masked, f"input: {image}\n{mask}{percent}", None)]
        panels += [(output_path(row), f"{row['label']}\nhole {row['psnr_hole']:.2f} dB", row)
                   for row in rows.to_dict("records")]
        panels.append((clean, "ground truth", None))
        for c in range(ncols):
            full, zoom = axes[2 * b, c], axes[2 * b + 1, c]
            if c >= len(panels):
                full.set_visible(False)
                zoom.set_visible(False)
                continue
            path, title, row = panels[c]
            pixels = _read_png(run_dir / path) if (run_dir / path).exists() else None
            _show(full, pixels, title)
            top, bottom, left, right = box or (0, None, 0, None)
            crop = None if pixels is None else pixels[top:bottom, left:right]
            _show(zoom, crop, "zoom: largest hole" if c == 0 else "")
            if c == 0 and pixels is not None and box is not None:
                full.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                                         edgecolor="red", linewidth=1.2))
            if row is not None:
                drawn.append({"image": image, "mask": mask, "label": row["label"], "seed": int(row["seed"]),
                              "psnr_hole": row["psnr_hole"], "file": path if pixels is not None else "",
                              "crop": "" if box is None else f"{top}:{bottom},{left}:{right}"})
    figure.suptitle("Composited outputs of the methods that ran on each pair, with a zoom on the largest hole")
    return _save(figure, pd.DataFrame(drawn), out_dir, "grid")


def _panels(count: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure with ``count`` panels, two per row; the unused last panel hidden."""
    ncols = min(2, count)
    nrows = math.ceil(count / ncols)
    figure = Figure(figsize=(width * ncols + 1.8, height * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, axes


def _legend(figure: Figure, colours: dict[str, tuple[float, ...]], labels: list[str], marker: str) -> None:
    """One legend for the whole figure, outside the panels on the right (constrained layout makes room), so it
    never covers data; the colours are the report's fixed palette."""
    handles = [Line2D([], [], color=colours.get(label), marker=marker, linewidth=1.4, markersize=5, label=label)
               for label in labels]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)


def curves(curves: pd.DataFrame, out_dir: Path, colours: dict[str, tuple[float, ...]]) -> Path:
    """``curves.png``: PSNR vs iteration, one subplot per mask kind, one line per method label (mean over the
    images and seeds of that label and mask at each logged iteration)."""
    data = curves.dropna(subset=["psnr"])
    if data.empty:
        raise FigureSkipped("no PSNR curves in curves.csv (no iterative method finished)")
    mean = (data.groupby(["mask", "label", "iteration"], sort=False)["psnr"]
            .agg(psnr_mean="mean", n="count").reset_index())
    masks = list(mean["mask"].unique())
    figure, axes = _panels(len(masks), 5.6, 3.4)
    for ax, mask in zip(axes, masks):
        for label, line in mean[mean["mask"] == mask].groupby("label", sort=False):
            line = line.sort_values("iteration")
            ax.plot(line["iteration"], line["psnr_mean"], color=colours.get(label), linewidth=1.4,
                    marker="o" if len(line) <= 20 else None, markersize=3)
        ax.set_title(f"mask: {mask}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    _legend(figure, colours, [label for label in colours if label in set(mean["label"])], "o")
    figure.suptitle("PSNR vs iteration (mean over images and seeds)")
    return _save(figure, mean, out_dir, "curves")


def curve_hole_psnr(curves: pd.DataFrame, ok: pd.DataFrame) -> pd.DataFrame:
    """Hole PSNR along each DIP fit: the curve's own ``psnr_hole`` where the harness logged it, else (older runs)
    derived from the logged whole-image PSNR and masked loss of the same iterate: with MSE over the image =
    10^(−psnr/10) and loss = Σ_known err² / (C·H·W) (the fit's masked MSE, unpadded image), the hole MSE is
    (MSE − loss) / hole_ratio. Exact for unpadded images; derived curves whose last point is more than
    ``CURVE_CHECK_DB`` from the row's final hole PSNR (padded images) are left out. Columns: label, mask, image,
    seed, iteration, psnr_hole."""
    keys = KEY
    columns = ["label", "mask", "image", "seed", "iteration", "psnr_hole"]
    data = curves.drop(columns="label", errors="ignore").rename(columns={"psnr_hole": "logged"})
    if data.empty:
        return pd.DataFrame(columns=columns)
    if "logged" not in data.columns:
        data["logged"] = np.nan
    rows = ok[keys + ["label", "hole_ratio", "psnr_hole"]].astype({"seed": int})
    data = data.astype({"seed": int}).merge(rows, on=keys)
    measured = data[data["logged"].notna()].assign(curve=lambda t: t["logged"])
    derived = data[data["logged"].isna()].dropna(subset=["psnr", "loss"])
    hole_mse = (10.0 ** (-derived["psnr"] / 10.0) - derived["loss"]) / derived["hole_ratio"]
    derived = derived.assign(curve=-10.0 * np.log10(hole_mse.where(hole_mse > 0)))
    last = derived.sort_values("iteration").groupby(keys).tail(1)
    derived = derived.merge(last[(last["curve"] - last["psnr_hole"]).abs() <= CURVE_CHECK_DB][keys], on=keys)
    both = pd.concat([measured, derived], ignore_index=True)
    return both.drop(columns="psnr_hole").rename(columns={"curve": "psnr_hole"})[columns]


def cost_points(ok: pd.DataFrame, interval: Callable[[np.ndarray], tuple[float, float]]) -> pd.DataFrame:
    """Per (mask, label) of the timed ok rows with a finite hole PSNR: mean seconds per image, mean hole PSNR with
    its ``interval``, n and mean seconds per iteration."""
    timed = ok.dropna(subset=["seconds"])
    timed = timed[np.isfinite(timed["psnr_hole"].astype(float)) & (timed["seconds"] > 0)]
    points = []
    for (mask, label), group in timed.groupby(["mask", "label"], sort=False):
        low, high = interval(group["psnr_hole"].to_numpy(float))
        points.append({"mask": mask, "label": label, "seconds": group["seconds"].mean(),
                       "psnr_hole": group["psnr_hole"].mean(), "low": low, "high": high, "n": len(group),
                       "seconds_per_iter": group["seconds_per_iter"].mean()})
    return pd.DataFrame(points)


def _cost_panel(ax, mine: pd.DataFrame, along: pd.DataFrame,  # noqa: ANN001
                colours: dict[str, tuple[float, ...]]) -> list[pd.DataFrame]:
    """One mask kind's quality-against-cost panel: a marker with its interval per method, and each DIP fit's hole
    PSNR along its iterations at iteration x seconds per iteration; returns the lines drawn."""
    lines = []
    for point in mine.itertuples():
        colour = colours.get(point.label)
        line = along[(along["mask"] == point.mask) & (along["label"] == point.label)]
        if len(line) and math.isfinite(point.seconds_per_iter):
            mean = line.groupby("iteration")["psnr_hole"].agg(["mean", "count"]).reset_index()
            mean = mean[mean["iteration"] > 0]
            seconds = mean["iteration"] * point.seconds_per_iter
            ax.plot(seconds, mean["mean"], color=colour, linewidth=1.0, alpha=0.6)
            lines.append(mean.assign(mask=point.mask, label=point.label, seconds=seconds))
        yerr = None if not math.isfinite(point.low) else [[point.psnr_hole - point.low], [point.high - point.psnr_hole]]
        ax.errorbar(point.seconds, point.psnr_hole, yerr=yerr, fmt="o", color=colour, capsize=3)
    ax.set_xscale("log")
    ax.set_title(f"mask: {mine['mask'].iloc[0]}")
    ax.set_xlabel("seconds per image (log scale)")
    ax.set_ylabel("hole PSNR (dB)")
    ax.grid(alpha=0.3, which="both")
    return lines


def _along(ok: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    return curve_hole_psnr(curves, ok) if len(curves) else pd.DataFrame(columns=["label", "mask"])


def quality_cost(ok: pd.DataFrame, curves: pd.DataFrame, out_dir: Path, colours: dict[str, tuple[float, ...]],
                 interval: Callable[[np.ndarray], tuple[float, float]]) -> Path:
    """``quality_cost.png``: per mask kind, mean hole PSNR against mean seconds per image (log x), one marker per
    method with the ``interval`` of its mean (vertical bar), and for each DIP configuration its mean hole PSNR along
    the fit against time (iteration x its mean seconds per iteration); one legend beside the panels."""
    points = cost_points(ok, interval)
    if points.empty:
        raise FigureSkipped("no timed ok rows with a finite hole PSNR")
    along = _along(ok, curves)
    masks = list(points["mask"].unique())
    figure, axes = _panels(len(masks), 6.0, 3.8)
    lines = []
    for ax, mask in zip(axes, masks):
        lines += _cost_panel(ax, points[points["mask"] == mask], along, colours)
    _legend(figure, colours, [label for label in colours if label in set(points["label"])], "o")
    figure.suptitle("Quality against cost: markers = final outputs (mean, 95 % bootstrap interval); "
                    "lines = DIP fits along their iterations", fontsize=10)
    data = pd.concat([points.assign(kind="final")]
                     + [line.rename(columns={"mean": "psnr_hole", "count": "n"}).assign(kind="along fit")
                        for line in lines], ignore_index=True)
    return _save(figure, data, out_dir, "quality_cost")


SUMMARY_COLUMNS = ["#", "method", "hole PSNR dB [95 % CI]", "hole SSIM", "s / image", "iterations"]
SUMMARY_WIDTHS = [0.05, 0.24, 0.27, 0.12, 0.13, 0.19]


def _board_panel(ax, table: Any, colours: dict[str, tuple[float, ...]]) -> None:  # noqa: ANN001
    """A mask kind's leaderboard (a ``cells.Table`` of ``SUMMARY_COLUMNS`` and more) drawn as a table: method names
    in their figure colour, the best value of each column in bold."""
    keep = [table.columns.index(c) for c in SUMMARY_COLUMNS]
    text = [[row[j].text for j in keep] for row in table.rows]
    drawn = ax.table(cellText=text, colLabels=SUMMARY_COLUMNS, colWidths=SUMMARY_WIDTHS, bbox=(0, 0, 1, 1),
                     cellLoc="left", edges="horizontal")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(8.5)
    for i, row in enumerate(table.rows, start=1):
        drawn[i, 1].get_text().set_color(colours.get(row[keep[1]].text, "black"))
        for c, j in enumerate(keep):
            if row[j].best:
                drawn[i, c].get_text().set_fontweight("bold")
    for c in range(len(keep)):
        drawn[0, c].get_text().set_fontweight("bold")
    ax.set_title(f"mask: {table.title}", fontsize=10)
    ax.axis("off")


def summary(tables: list[Any], ok: pd.DataFrame, curves: pd.DataFrame, out_dir: Path,
            colours: dict[str, tuple[float, ...]], interval: Callable[[np.ndarray], tuple[float, float]]) -> Path:
    """``summary.png`` for a slide: per mask kind (two side by side), its leaderboard table above its
    quality-against-cost panel; the method names in the tables are coloured as the markers (no legend needed)."""
    points = cost_points(ok, interval)
    if not tables or points.empty:
        raise FigureSkipped("no timed ok rows with a finite hole PSNR")
    along = _along(ok, curves)
    ncols = min(2, len(tables))
    blocks = math.ceil(len(tables) / ncols)
    table_height = 0.22 * (1 + max(len(t.rows) for t in tables))
    figure = Figure(figsize=(8.0 * ncols, (table_height + 3.4) * blocks), layout="constrained")
    axes = figure.subplots(2 * blocks, ncols, squeeze=False, height_ratios=[table_height, 3.4] * blocks)
    for k in range(blocks * ncols):
        top, bottom = axes[2 * (k // ncols), k % ncols], axes[2 * (k // ncols) + 1, k % ncols]
        if k >= len(tables):
            top.set_visible(False)
            bottom.set_visible(False)
            continue
        _board_panel(top, tables[k], colours)
        mine = points[points["mask"] == tables[k].title]
        if len(mine):
            _cost_panel(bottom, mine, along, colours)
            bottom.set_title("")
        else:
            bottom.set_visible(False)
    figure.suptitle("Leaderboard by mean hole PSNR, and quality against cost (markers: final outputs with 95 % "
                    "interval; lines: DIP fits along their iterations)", fontsize=11)
    return _save(figure, points, out_dir, "summary")
