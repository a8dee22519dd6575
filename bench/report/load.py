"""A run folder's rows as the report reads them: the results with a ``label`` column, sorted by mask kind then
method family, the curves of the ok rows, ``meta.json``, and each DIP configuration's preset iteration count.

It reads only the run folder's ``bench.results.RunFolder`` (results, curves, ``meta.json``); the preset's iterations
come from the row's preset (or the preset its record names) through ``dip_bench.dip.presets``, never from a method
object.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from dip_bench.bench.results import KEY, META, RunFolder, method_label, preset_text
from dip_bench.contract import UserError

FAMILY_ORDER = {"dip": 0, "learned": 1, "classical": 2}


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


def mask_kinds() -> tuple[str, ...]:
    """The built-in mask kinds in their natural order (text, pixels50, boxes, strokes by hole ratio, region)."""
    from dip_bench.datasets import MASK_KINDS

    return tuple(MASK_KINDS)


def _sorted(results: pd.DataFrame) -> pd.DataFrame:
    """Rows by mask kind (built-in order, then others), then method family (DIP first), then label."""
    family = families(list(results["method"].astype(str).unique()))
    label_order = {label: (FAMILY_ORDER.get(family[method], 3), label)
                   for label, method in zip(results["label"], results["method"].astype(str))}
    mask_order = {kind: i for i, kind in enumerate(mask_kinds())}
    keys = [(mask_order.get(mask, len(mask_order)), str(mask), label_order[label])
            for mask, label in zip(results["mask"], results["label"])]
    return results.iloc[sorted(range(len(results)), key=keys.__getitem__)].reset_index(drop=True)


def load_run(run_dir: Path | RunFolder) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], str | None]:
    """(results with ``label``, curves of the ok rows with ``label``, meta dict, meta problem or None).

    A missing folder or one without rows is a ``UserError`` naming the fix."""
    folder = RunFolder.of(run_dir)
    run_dir = folder.path
    fix = f"run `dip-bench run --out {run_dir}` first"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; {fix}")
    results = folder.results()
    if results.empty:
        raise UserError(f"{run_dir}: no result rows in this folder; {fix}")
    results["preset"] = preset_text(results["preset"])
    results["status"] = results["status"].astype(object).fillna("failed: no status recorded").astype(str).str.strip()
    results["label"] = [method_label(m, p) for m, p in zip(results["method"].astype(str), results["preset"])]
    results = _sorted(results)
    ok = results[results["status"] == "ok"]
    curves = folder.curves()
    if len(curves):
        curves["preset"] = preset_text(curves["preset"])
        curves["seed"] = pd.to_numeric(curves["seed"]).astype(int)
        curves = curves.merge(ok[KEY + ["label"]].astype({"seed": int}), on=KEY)
        order = {mask: i for i, mask in enumerate(results["mask"].unique())}
        curves = curves.sort_values("mask", key=lambda masks: masks.map(order), kind="stable")
    meta, problem = folder.meta_and_problem()
    if problem is not None:
        problem = f"no {META} in the run folder" if problem == "missing" else f"{META} is {problem}"
    return results, curves, meta, problem


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def preset_iterations(row: pd.Series) -> int | None:
    """The full iteration count of the preset a row's DIP fit was configured from: the row's ``preset``, else the
    ``preset`` its record names; None for a row without a known preset (a classical method, a plugin)."""
    from dip_bench.dip.presets import get_preset

    name = row.get("preset") or _json(row.get("record")).get("preset")
    if not isinstance(name, str) or not name:
        return None
    try:
        return int(get_preset(name).iterations)
    except UserError:
        return None
