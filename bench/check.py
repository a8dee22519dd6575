"""PSNR regression check of a run against a stored reference, in one of two modes chosen from the fingerprints.

- **exact** (same fingerprint on a CPU: same CPU model and vector code, threads, versions; see ``bench.meta``):
  every result value of every row and the SHA-256 of every output PNG must be identical, tolerance 0. Any changed
  byte of a result fails.
- **statistical** (a different fingerprint, or a GPU, whose backward passes are not deterministic): per
  configuration (method, preset, params), the mean and the trimmed mean of the deviations of the run's PSNR and SSIM
  from the reference rows' centres (their means over the reference's runs) must lie within the tolerances measured
  when the reference was made (see ``bench.reference``). A row whose status changed fails in
  both modes; a reference row missing from the run fails unless ``only_present``; a configuration the reference
  lacks (e.g. a changed parameter) always fails; extra rows of a known configuration (more seeds) are not compared.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dip_bench.bench.meta import fingerprint_differences
from dip_bench.bench.reference import (CENTER, CONFIG, EXACT, JUDGED, ROW, Reference, config_label, row_label,
                                       trimmed_mean)
from dip_bench.contract import UserError


@dataclass(frozen=True)
class Mode:
    """``name`` is ``exact`` or ``statistical``; ``why`` says what decided it."""

    name: str
    why: str


@dataclass
class CheckResult:
    """``lines``: one entry per configuration (method, preset, params, n, d_psnr, d_ssim, tol_psnr, tol_ssim, verdict);
    ``problems``: one message per failing configuration or row."""

    mode: Mode
    lines: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.lines)


def choose_mode(reference_fingerprint: dict[str, Any] | None, run_fingerprint: dict[str, Any] | None) -> Mode:
    """Exact when both fingerprints exist, are equal and describe a CPU; statistical otherwise, with the reason."""
    if not run_fingerprint:
        return Mode("statistical", "the run's meta.json has no environment fingerprint")
    if not reference_fingerprint:
        return Mode("statistical", "the reference has no environment fingerprint")
    differences = fingerprint_differences(reference_fingerprint, run_fingerprint)
    if differences:
        shown = "; ".join(differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
        return Mode("statistical", f"the environment differs from the reference's: {shown}")
    if run_fingerprint.get("device") != "cpu":
        return Mode("statistical", f"same environment, but {run_fingerprint.get('device')} results are not "
                                   "bit-reproducible (nondeterministic backward passes)")
    return Mode("exact", "same environment fingerprint as the reference (CPU, ISA, threads, versions): results must "
                         "be identical")


def _same(old: Any, new: Any) -> bool:
    """Bit equality for numbers (NaN equals NaN), equality for text; None/NaN/"" all mean 'no value'."""
    empty = lambda v: v == "" if isinstance(v, str) else bool(pd.isna(v))  # noqa: E731
    if empty(old) or empty(new):
        return empty(old) and empty(new)
    if isinstance(old, str) or isinstance(new, str):
        return str(old) == str(new)
    return float(old) == float(new)


def _aligned(run: pd.DataFrame, reference: Reference, only_present: bool, result: CheckResult) -> pd.DataFrame:
    """Reference rows joined with the run's (suffix ``_ref`` for the reference); missing rows become problems."""
    merged = reference.table.merge(run, on=ROW, how="left", suffixes=("_ref", ""), indicator=True)
    missing = merged[merged["_merge"] == "left_only"]
    if len(missing) and not only_present:
        for _, row in missing.iterrows():
            result.problems.append(f"{row_label(row)}: missing from the run")
    known = set(reference.table[CONFIG].itertuples(index=False))
    new = {config_label(*key) for key in run[CONFIG].itertuples(index=False) if key not in known}
    if new:
        result.problems.append(f"configuration(s) not in the reference: {', '.join(sorted(new))}; a changed "
                               "parameter makes a new configuration: update the reference on purpose")
    present = merged[merged["_merge"] == "both"].drop(columns="_merge")
    for _, row in present.iterrows():
        if row["status"] != row["status_ref"]:
            result.problems.append(f"{row_label(row)}: status {row['status_ref']!r} -> {row['status']!r}")
    return present


def _config_line(rows: pd.DataFrame, key: tuple[str, str, str], centred: bool = False) -> dict[str, Any]:
    """Mean deviation ``d_<metric>`` of the rows ok in both from the reference's values; with ``centred``, from
    the rows' centres where the reference has them, and their trimmed mean ``d_<metric>_trimmed`` too."""
    ok = rows[(rows["status"] == "ok") & (rows["status_ref"] == "ok")]
    line: dict[str, Any] = {"method": key[0], "preset": key[1], "params": key[2], "n": len(ok)}
    for metric, center in zip(JUDGED, CENTER):
        against = ok[center].fillna(ok[f"{metric}_ref"]) if centred and center in ok else ok[f"{metric}_ref"]
        deviations = (ok[metric] - against).to_numpy(float)
        line[f"d_{metric}"] = float(deviations.mean()) if len(ok) else 0.0
        if centred:
            line[f"d_{metric}_trimmed"] = trimmed_mean(deviations) if len(ok) else 0.0
    return line


def compare_exact(run: pd.DataFrame, reference: Reference, mode: Mode, only_present: bool = False) -> CheckResult:
    """Every ``EXACT`` column the reference has must be identical in every row (tolerance 0)."""
    result = CheckResult(mode)
    present = _aligned(run, reference, only_present, result)
    columns = [c for c in EXACT if c in reference.table.columns and c != "status"]
    for key, rows in present.groupby(CONFIG, sort=False):
        line = _config_line(rows, key)
        changed = [row for _, row in rows[rows["status"] != rows["status_ref"]].iterrows()]  # reported already
        for _, row in rows[rows["status"] == rows["status_ref"]].iterrows():
            moved = [f"{c} {row[f'{c}_ref']!r} -> {row[c]!r}" for c in columns
                     if c in row and not _same(row[f"{c}_ref"], row[c])]
            if moved:
                changed.append(row)
                result.problems.append(f"{row_label(row)}: " + "; ".join(moved))
        line.update(tol_psnr=0.0, tol_ssim=0.0, verdict=f"CHANGED ({len(changed)} rows)" if changed else "identical")
        result.lines.append(line)
    return result


def compare_statistical(run: pd.DataFrame, reference: Reference, mode: Mode,
                        only_present: bool = False) -> CheckResult:
    """The mean and the trimmed mean of each configuration's deviations from the reference rows' centres must stay
    within their measured tolerances (scaled by sqrt(n / m) when only m of its n rows are present), for every
    ``JUDGED`` metric."""
    tolerances = reference.tolerances
    if not tolerances:
        raise UserError(f"{reference.path}: this reference has no measured tolerances (it was written by `check "
                        "--update` from one run), so it can only be checked in the exact mode, on the machine and "
                        f"environment that made it ({mode.why}); make one with `dip-bench reference`")
    result = CheckResult(mode)
    present = _aligned(run, reference, only_present, result)
    for key, rows in present.groupby(CONFIG, sort=False):
        line = _config_line(rows, key, centred=True)
        entry = tolerances.get(key)
        if entry is None:
            raise UserError(f"{reference.path}: no tolerance for configuration {config_label(*key)}; the reference's "
                            "table and metadata disagree: remake it")
        scale = math.sqrt(entry["n"] / line["n"]) if line["n"] and entry["n"] else 1.0
        moved = []
        for metric in JUDGED:
            for suffix, statistic in (("", "mean"), ("_trimmed", "trimmed mean")):
                if f"tol_{metric}{suffix}" not in entry:  # a reference from before the trimmed mean was judged
                    continue
                d, tol = line[f"d_{metric}{suffix}"], entry[f"tol_{metric}{suffix}"] * scale
                line[f"tol_{metric}{suffix}"] = tol
                if not abs(d) <= tol:
                    moved.append(f"{statistic} {metric} {d:+.4g} (tolerance {tol:.3g})")
        line["verdict"] = "MOVED" if moved else "ok"
        if moved:
            result.problems.append(f"{config_label(*key)} (n={line['n']}): " + "; ".join(moved))
        result.lines.append(line)
    return result


def compare(run: pd.DataFrame, reference: Reference, run_fingerprint: dict[str, Any] | None,
            only_present: bool = False, mode: Mode | None = None) -> CheckResult:
    """Check a normalised run table against ``reference`` in the mode the fingerprints choose (or ``mode``)."""
    mode = mode or choose_mode(reference.fingerprint, run_fingerprint)
    compare_mode = compare_exact if mode.name == "exact" else compare_statistical
    return compare_mode(run, reference, mode, only_present)
