"""Report cells and tables, the number formats they use, and escaping for HTML prose, markdown and LaTeX.

A ``Table`` is what every template renders: a title, a note (n, conventions), column names and rows of ``Cell``.
Highlighting means one thing everywhere: ``mark_best`` marks the best value of a column within a mask kind (a block
of rows), and only when that column's values differ there.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup, escape


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
        rows = [[Cell(text_of(value), sort=sort_key(value)) for value in row] for row in frame.itertuples(index=False)]
        return cls(title, [str(c) for c in frame.columns], rows, note)


@dataclass
class Section:
    """A part of the report: ``blurb`` is the one line saying what it shows; ``folded`` sections render closed."""

    title: str
    anchor: str
    blurb: str = ""
    folded: bool = True
    blocks: list[tuple[str, Any]] = field(default_factory=list)  # ("p" | "list" | "table" | "figure" | "pairs", x)


def text_of(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def sort_key(value: Any) -> float | None:
    """The number a cell sorts by: the value itself, or the first number in its text (``12.3 [11.9, 12.8]``)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value) if math.isfinite(float(value)) else None
    match = re.match(r"\s*([+−-]?\d+(?:\.\d+)?)", str(value))
    return float(match.group(1).replace("−", "-")) if match else None


def finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def num(value: float, digits: int | None) -> str:
    """Fixed ``digits`` decimals; when ``digits`` is None, 3 significant digits (whole numbers from 100 up)."""
    if not math.isfinite(value):
        return str(value)
    if digits is None:
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{value:.{digits}f}"


def signed(value: float, digits: int) -> str:
    return "" if not math.isfinite(value) else f"{value:+.{digits}f}".replace("-", "−")


def mean_std(mean: float, std: float, digits: int | None) -> str:
    if math.isnan(mean):
        return ""
    return num(mean, digits) + (f" ± {num(std, digits)}" if math.isfinite(std) else "")


def integer(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else str(int(round(value)))


def interval(mean: float, low: float, high: float, digits: int, sign: bool = True) -> str:
    """``+1.23 [+0.50, +2.01]``; ``(no interval: n = 1)`` without bounds; unsigned when ``sign`` is False."""
    if not math.isfinite(mean):
        return ""
    show = (lambda v: signed(v, digits)) if sign else (lambda v: num(v, digits))
    if not math.isfinite(low):
        return f"{show(mean)} (no interval: n = 1)"
    return f"{show(mean)} [{show(low)}, {show(high)}]"


def mark_best(table: Table, columns: list[str], higher: bool = True) -> Table:
    """Mark the best cell of each named column within each group of rows (consecutive rows with the same value in
    ``table.group``, or all rows); a column whose values are all equal within a group has no best there."""
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
            if len(set(keys)) < 2:
                continue
            best = max(keys) if higher else min(keys)
            for row in block:
                row[j].best = row[j].sort == best
    return table


# ---------------------------------------------------------------------------------------------------------- escaping

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "−": "$-$",
                 "±": r"$\pm$", "Δ": r"$\Delta$", "✂": r"$^\dagger$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in str(text))


def md_escape(text: Any) -> str:
    """Markdown text with HTML made inert as ``report.html`` does: ``&``, ``<``, ``>`` become entities (so a name or
    reason holding ``<script>`` is shown, never run); markdown's own ``code``/**bold** marks are kept."""
    return html.escape(str(text), quote=False)


def inline(text: str) -> Markup:
    """HTML of a line of report prose: escaped, with ``code``, **bold** and *italic* spans."""
    out = str(escape(text))
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return Markup(re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out))


def md_table(table: Table) -> str:
    """A markdown table; best cells in bold; pipes escaped, HTML made inert."""
    def cell(c: Cell) -> str:
        text = md_escape(c.text).replace("|", "\\|").replace("\n", " ")
        return f"**{text}**" if c.best and text else text
    lines = ["| " + " | ".join(md_escape(c).replace("|", "\\|") for c in table.columns) + " |",
             "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows])


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``table``'s columns (the index is not written)."""
    return md_table(Table.from_frame("", table))
