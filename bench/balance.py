"""Is a suite balanced? Per mask kind, which methods compete and whether each runs on exactly the same units.

A unit is an (image, seed) pair of one mask kind. A suite is balanced when, within every mask kind, every method
that runs on it runs on the same units (a method may be restricted to some mask kinds, e.g. the ``text`` preset to
text masks). Only then are all comparisons on that mask kind paired. ``check`` takes the planned rows (before a run)
or a results table (after it) and returns one warning line per mask kind that is not balanced.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import pandas as pd

from dip_bench.bench.results import method_label, preset_text

UNIT = ["image", "seed"]


class HasKey(Protocol):
    def key(self) -> dict[str, Any]: ...


def as_table(rows: pd.DataFrame | Iterable[HasKey]) -> pd.DataFrame:
    """A frame with method, preset, image, mask, seed and label from a results table or planned rows
    (``bench.suite.Row``, anything with ``key()``)."""
    table = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame([row.key() for row in rows])
    if table.empty:
        return pd.DataFrame(columns=["method", "preset", "image", "mask", "seed", "label"])
    table["preset"] = preset_text(table["preset"])
    table["seed"] = pd.to_numeric(table["seed"]).astype(int)
    table["label"] = [method_label(m, p) for m, p in zip(table["method"].astype(str), table["preset"])]
    return table


def coverage(rows: pd.DataFrame | Iterable[HasKey]) -> pd.DataFrame:
    """One row per (mask, method): units (how many (image, seed) pairs it runs), of (units of the mask kind, over all
    its methods), paired (True when it runs on all of them), missing (up to 3 absent units as ``image/sSEED``)."""
    table = as_table(rows)
    out = []
    for mask, group in table.groupby("mask", sort=False):
        every = set(map(tuple, group[UNIT].drop_duplicates().itertuples(index=False)))
        for label, mine in group.groupby("label", sort=False):
            units = set(map(tuple, mine[UNIT].drop_duplicates().itertuples(index=False)))
            missing = sorted(every - units, key=str)
            out.append({"mask": mask, "method": label, "units": len(units), "of": len(every),
                        "paired": not missing,
                        "missing": ", ".join(f"{image}/s{seed}" for image, seed in missing[:3])
                        + (f", … ({len(missing) - 3} more)" if len(missing) > 3 else "")})
    return pd.DataFrame(out, columns=["mask", "method", "units", "of", "paired", "missing"])


def check(rows: pd.DataFrame | Iterable[HasKey]) -> list[str]:
    """Warning lines, one per mask kind whose methods do not all run on the same (image, seed) units; empty when the
    rows are balanced. ``rows``: planned ``bench.suite.Row`` objects or a results table (pass only its ok rows to
    check what finished)."""
    table = coverage(rows)
    warnings = []
    for mask, group in table.groupby("mask", sort=False):
        short = group[~group["paired"]]
        if short.empty:
            continue
        parts = [f"{row.method} on {row.units} of {row.of} (missing {row.missing})" for row in short.itertuples()]
        warnings.append(f"unbalanced on mask {mask!r}: comparisons there are not all paired; " + "; ".join(parts))
    return warnings
