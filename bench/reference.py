"""Stored references for ``dip-bench check``: the table, its fingerprint, and tolerances from *measured* spread.

A reference is two files side by side: ``NAME.csv`` (one line per row of a suite: its configuration ``method``,
``preset``, ``params``, its ``image``, ``mask``, ``seed``, the status, every result column at full precision and the
SHA-256 of the row's output PNG) and ``NAME.meta.json`` (suite, the environment fingerprint of the run it holds, the
commit and command that made it, and per configuration the tolerances and the deviations they were measured from).

A *configuration* is a method with one parameter set (``method``, ``preset``, ``params``); the suite may give it
several rows (images x masks x seeds). The check judges the mean of a configuration's rows:

- The spread is measured by running the same suite, same seeds, K times: in this environment and in *variant
  environments* that imitate other machines on one box (oneDNN/ATen/MKL limited to AVX2, one thread, both; see
  ``VARIANTS``), optionally for extra seeds; on a GPU by repeating the run (CUDA backward passes are not
  deterministic). A DIP fit is chaotic: after a few steps the runs are independent draws around the same mean.
- Each row's *centre* (``psnr_center``, ``ssim_center`` in the CSV) is its mean over the K runs; the statistical
  check compares a run's rows with these centres, not with one environment's draw. Each configuration's per-row
  standard deviation ``sd`` is pooled over its rows (K - 1 degrees of freedom per row, every seed measured). The
  deviation ``d`` of an m-row mean on another machine from the mean of its centres then has standard error
  ``se = sd * sqrt((1 + 1/K) / m)`` (rows independent: separate fits of different images, masks or seeds).
- ``tolerance = max(K_SE * se, K_MAX * max_k |mean_k - centre|, floor)`` at the configuration's full ``n``: three
  standard errors (a Gaussian statistic passes 99.7 % of the time), never less than 1.5 times the largest deviation
  of one measured run's mean from the centre, never below a floor. The floor (``FLOOR``: 1e-9 dB, 1e-12 SSIM)
  absorbs float64 rounding of the metrics (about 1e-14) and is far below the smallest real change (one grey level of
  one pixel at 128 px moves PSNR by about 1e-7 dB), so the deterministic classical methods keep a tolerance that
  catches any change of their output, also when a library update is what changed it.
- ``detect = tolerance + 2 * se``: the *detection threshold*, the smallest shift of the configuration's mean that
  the cross-machine check catches with probability >= 97.7 % (a shift ``detect`` leaves ``|d| > tolerance`` unless
  the noise is below -2 se).
- A check on m of a configuration's n rows (``--only-present``) scales the tolerance by sqrt(n / m).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dip_bench.bench.atomic import write_text
from dip_bench.bench.meta import git_state
from dip_bench.bench.results import META, read_results, row_id
from dip_bench.contract import UserError

FORMAT = "dip-bench-reference/1"
CONFIG = ["method", "preset", "params"]
ROW = CONFIG + ["image", "mask", "seed"]
#: judged per configuration in the statistical mode (whole-image composite metrics; psnr_hole is psnr shifted by a
#: constant of the mask, so it adds nothing)
JUDGED = ("psnr", "ssim")
#: compared value for value in the exact mode, where present in the reference
EXACT = ("status", "hole_ratio", "psnr", "ssim", "psnr_hole", "ssim_hole", "lpips", "psnr_raw", "best_psnr",
         "best_iter", "es_iter", "es_psnr", "es_saved_iters", "restores", "iterations", "output_sha256")
REQUIRED = ROW + ["status", *JUDGED]
#: per row: the mean of each judged metric over the reference's K runs (what the statistical mode compares with)
CENTER = tuple(f"{metric}_center" for metric in JUDGED)
FLOOR = {"psnr": 1e-9, "ssim": 1e-12}
K_SE, K_MAX, K_DETECT = 3.0, 1.5, 2.0
TOLERANCE_RULE = (f"tol = max({K_SE} * se, {K_MAX} * max_k |mean_k - centre|, floor {{psnr: 1e-9 dB, ssim: 1e-12}}); "
                  "se = sd * sqrt((1 + 1/K) / n), sd = per-row standard deviation over the K runs pooled over the "
                  f"configuration's rows; detect = tol + {K_DETECT} * se (caught with probability >= 97.7 %)")
#: environments that imitate other CPUs on one machine (set before torch is imported, so each runs in a subprocess)
_AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
VARIANTS: dict[str, dict[str, str]] = {
    "avx2": _AVX2,
    "threads1": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "avx2-threads1": {**_AVX2, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
}


def canonical_params(value: Any) -> str:
    """A ``params`` cell (JSON text or a mapping) as sorted, space-free JSON, so that equal parameters compare equal."""
    if isinstance(value, float) and math.isnan(value) or value is None or value == "":
        return "{}"
    params = json.loads(value) if isinstance(value, str) else dict(value)
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def config_label(method: str, preset: str, params: str) -> str:
    """``dip-skip[region] iterations=300``: the method, its preset and its other parameters."""
    others = {k: v for k, v in json.loads(params).items() if k != "preset"}
    text = f"{method}[{preset}]" if preset else method
    return text + "".join(f" {k}={v}" for k, v in others.items())


def row_label(row: pd.Series | dict[str, Any]) -> str:
    config = config_label(row["method"], row["preset"], row["params"])
    return f"{config} {row['image']}/{row['mask']} seed {row['seed']}"


def normalised(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """``table`` with the row columns typed (preset ``""`` for none, params canonical, seed int); a missing column
    is a ``UserError`` naming ``where``."""
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise UserError(f"{where}: missing column(s) {', '.join(missing)}; remake it with `dip-bench reference` "
                        "or `dip-bench check RUN --update`")
    table = table.copy()
    table["preset"] = table["preset"].astype(object).where(table["preset"].notna(), "").astype(str)
    table["params"] = [canonical_params(value) for value in table["params"]]
    table["seed"] = table["seed"].astype(int)
    for column in ("method", "image", "mask", "status"):
        table[column] = table[column].astype(str)
    duplicated = table.duplicated(ROW, keep=False)
    if duplicated.any():
        first = table[duplicated].iloc[0]
        raise UserError(f"{where}: {int(duplicated.sum())} rows share a key, e.g. {row_label(first)}; a table holds "
                        "each row once (merge shards with `dip-bench merge`)")
    return table


def file_sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def run_table(run_dir: Path) -> pd.DataFrame:
    """A run's results (``require_run``) with ``output_sha256``, the SHA-256 of each row's output PNG (None
    without one)."""
    require_run(run_dir)
    table = read_results(run_dir)
    outputs = []
    for _, row in table.iterrows():
        relative = row.get("output") if isinstance(row.get("output"), str) and row.get("output") else \
            f"outputs/{row_id(row.to_dict())}.png"
        outputs.append(file_sha256(Path(run_dir) / relative) if row["status"] == "ok" else None)
    return table.assign(output_sha256=outputs)


def require_run(run_dir: Path) -> None:
    """A ``UserError`` unless ``run_dir`` is a run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / META).exists() and not (run_dir / "results.csv").exists() and not (run_dir / "rows").is_dir():
        raise UserError(f"{run_dir}: not a run folder; run `dip-bench run --out {run_dir}` first")


def run_meta(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / META
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error}); the run's metadata is damaged") from None


# ---------------------------------------------------------------------------------------------------- tolerance maths

def _of(table: pd.DataFrame, key: tuple[str, ...]) -> pd.Series:
    """The rows of ``table`` that belong to configuration ``key``."""
    return np.logical_and.reduce([table[column] == value for column, value in zip(CONFIG, key)])


def _runs_long(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The ok rows of every run, one table with a ``run`` column."""
    frames = [table[table["status"] == "ok"][ROW + list(JUDGED)].assign(run=name) for name, table in runs.items()]
    return pd.concat(frames, ignore_index=True)


def row_centers(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per row (``ROW``): ``<metric>_center``, the mean over the runs where it finished ok, and ``runs``, their
    count."""
    grouped = _runs_long(runs).groupby(ROW, sort=False)
    centers = grouped[list(JUDGED)].mean().rename(columns=dict(zip(JUDGED, CENTER)))
    return centers.join(grouped.size().rename("runs")).reset_index()


def pooled_sd(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per configuration: ``sd_<metric>``, the per-row standard deviation over the runs, pooled over its rows
    (square root of the mean per-row variance, ddof 1; rows finished in fewer than two runs are left out)."""
    long = _runs_long(runs)
    per_row = long.groupby(ROW, sort=False)[list(JUDGED)].var(ddof=1).dropna(how="all").reset_index()
    pooled = per_row.groupby(CONFIG, sort=False)[list(JUDGED)].mean() ** 0.5
    return pooled.rename(columns={m: f"sd_{m}" for m in JUDGED}).reset_index()


def measure_tolerances(default: pd.DataFrame, variants: dict[str, pd.DataFrame],
                       reference_seeds: list[int]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Per configuration of ``default`` (the reference environment's run; see the module docstring): its row count
    ``n`` over ``reference_seeds``, the number of runs ``runs``, the pooled per-row ``sd``, the standard error
    ``se`` and ``tol`` and ``detect`` of each judged metric, and each run's deviation of the configuration's mean
    from the default run's (``deviations``, per seed). Also returns the row centres (``row_centers``). Runs are
    normalised tables (``normalised``)."""
    runs = {"reference": default, **variants}
    centers = row_centers(runs)
    sds = {tuple(row[CONFIG]): row for _, row in pooled_sd(runs).iterrows()}
    long = _runs_long(runs).merge(centers[ROW + list(CENTER)], on=ROW)
    long = long[long["seed"].isin(reference_seeds)]
    base = long[long["run"] == "reference"]
    entries = []
    configs = default[default["seed"].isin(reference_seeds)][CONFIG].drop_duplicates()
    for key in configs.itertuples(index=False):
        key = tuple(key)
        mine, rows = long[_of(long, key)], base[_of(base, key)]
        n = len(rows)
        entry: dict[str, Any] = {**dict(zip(CONFIG, key)), "n": n, "runs": len(runs)}
        for metric, center in zip(JUDGED, CENTER):
            sd = float(sds[key][f"sd_{metric}"]) if key in sds and math.isfinite(sds[key][f"sd_{metric}"]) else 0.0
            se = sd * math.sqrt((1 + 1 / len(runs)) / n) if n else 0.0
            # a run's deviation of the configuration mean from the centre, over the rows that run finished
            spread = [abs(float((group[metric] - group[center]).mean())) for _, group in mine.groupby("run")]
            tol = max(K_SE * se, K_MAX * max(spread, default=0.0), FLOOR[metric])
            entry.update({f"sd_{metric}": sd, f"se_{metric}": se, f"tol_{metric}": tol,
                          f"detect_{metric}": tol + K_DETECT * se})
        samples = []
        for name in variants:
            theirs = mine[mine["run"] == name].merge(rows, on=ROW, suffixes=("", "_ref"))
            for seed, group in theirs.groupby("seed"):
                if len(group) == int((rows["seed"] == seed).sum()):  # a row failed in one run only: not comparable
                    samples.append({"variant": name, "seed": int(seed),
                                    **{m: float((group[m] - group[f"{m}_ref"]).mean()) for m in JUDGED}})
        entry["deviations"] = samples
        entries.append(entry)
    return entries, centers


# ------------------------------------------------------------------------------------------------------ reference files

@dataclass(frozen=True)
class Reference:
    """A loaded reference: ``table`` (normalised rows), ``meta`` (the JSON), ``tolerances`` by configuration key."""

    path: Path
    table: pd.DataFrame
    meta: dict[str, Any]

    @property
    def fingerprint(self) -> dict[str, Any] | None:
        return self.meta.get("fingerprint")

    @property
    def tolerances(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(e["method"], e["preset"], e["params"]): e for e in self.meta.get("tolerances", [])}


def meta_path(csv: Path) -> Path:
    """``quick-cpu.csv`` -> ``quick-cpu.meta.json``."""
    return csv.with_name(csv.name.removesuffix(".csv") + ".meta.json")


def load_reference(path: Path) -> Reference:
    """A reference CSV with its ``.meta.json``, or a run folder (or its ``results.csv``) used as a reference (exact
    mode only: a run has no measured tolerances). Anything the check cannot judge is a ``UserError``."""
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent if path.name == "results.csv" else None
    if run_dir is not None and (run_dir / META).exists():
        return Reference(path, normalised(run_table(run_dir), str(path)), run_meta(run_dir))
    if not path.exists():
        raise UserError(f"{path}: reference not found; make one with `dip-bench reference --suite SUITE --out "
                        f"{str(path).removesuffix('.csv')}` or `dip-bench check RUN --reference {path} --update`")
    exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}  # pandas 3: default
    table = pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"], **exact,
                        dtype={"preset": str, "params": str, "status": str, "output_sha256": str})
    table = normalised(table, str(path))
    if "output_sha256" in table:
        table["output_sha256"] = table["output_sha256"].replace("", None)
    meta_file = meta_path(path)
    if not meta_file.exists():
        raise UserError(f"{meta_file}: the reference's metadata is missing (fingerprint, tolerances); remake the "
                        "reference with `dip-bench reference` or `check RUN --update`")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{meta_file}: not valid JSON ({error})") from None
    _check_tolerances(meta, meta_file)
    return Reference(path, table, meta)


def _check_tolerances(meta: dict[str, Any], where: Path) -> None:
    seen = set()
    for entry in meta.get("tolerances", []):
        key = (entry.get("method"), entry.get("preset"), entry.get("params"))
        if key in seen:
            raise UserError(f"{where}: configuration {config_label(*key)} has two tolerance entries")
        seen.add(key)
        for metric in JUDGED:
            value = entry.get(f"tol_{metric}")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise UserError(f"{where}: tolerance tol_{metric} of {config_label(*key)} is {value!r}; a tolerance "
                                "is a finite number >= 0 (remake the reference with `dip-bench reference`)")


def write_reference(path: Path, table: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Write ``NAME.csv`` (floats at full precision, so the exact mode sees every bit) and ``NAME.meta.json``."""
    columns = ROW + [c for c in EXACT + CENTER if c in table.columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, table[columns].to_csv(index=False))
    write_text(meta_path(path), json.dumps({"format": FORMAT, **meta}, indent=1, sort_keys=False) + "\n")


def make_reference(run_dir: Path, spread: list[Path], out: Path, command: str,
                   reference_seeds: list[int] | None = None, extra: dict[str, Any] | None = None,
                   git: tuple[str, bool] | None = None) -> dict[str, Any]:
    """Write the rows of ``run_dir`` (those of ``reference_seeds``; default all) as the reference ``out`` (CSV +
    ``.meta.json``), with tolerances measured from the ``spread`` runs (same suite, other environments or repeats;
    none: a reference for the exact mode only). ``git`` = (commit, dirty) of the code the runs used, taken before
    they started (default: the tree now). Returns the metadata written."""
    meta = run_meta(run_dir)
    table = normalised(run_table(run_dir), str(run_dir))
    variants: dict[str, pd.DataFrame] = {}
    for other in spread:
        if run_meta(other).get("suite") != meta.get("suite"):
            raise UserError(f"--spread {other}: a run of suite {run_meta(other).get('suite')!r}, not "
                            f"{meta.get('suite')!r}")
        variants[Path(other).name] = normalised(run_table(other), str(other))
    seeds = reference_seeds if reference_seeds is not None else sorted(set(table["seed"]))
    commit, dirty = git if git is not None else git_state()
    written = {
        "suite": meta.get("suite"),
        "made_by": {"command": command, "git_commit": commit, "dirty": dirty,
                    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
        "fingerprint": meta.get("fingerprint"),
        "versions": meta.get("versions"),
        **(extra or {}),
        "spread": {"runs": sorted(variants), "seeds": sorted(set(table["seed"])), "rule": TOLERANCE_RULE},
    }
    tolerances: list[dict[str, Any]] = []
    if variants:
        tolerances, centers = measure_tolerances(table, variants, seeds)
        table = table.merge(centers[ROW + list(CENTER)], on=ROW, how="left")
    written["tolerances"] = tolerances
    write_reference(Path(out), table[table["seed"].isin(seeds)], written)
    return written
