"""Stored references for ``dip-bench check``: the table, its fingerprint, and tolerances from *measured* spread.

A reference is two files side by side: ``NAME.csv`` (one line per row of a suite: its configuration ``method``,
``preset``, ``params``, its ``image``, ``mask``, ``seed``, the status, every result column at full precision and the
SHA-256 of the row's output PNG) and ``NAME.meta.json`` (suite, the environment fingerprint of the run it holds, the
commit and command that made it, and per configuration the tolerances and the deviations they were measured from).

A *configuration* is a method with one parameter set (``method``, ``preset``, ``params``); the suite may give it
several rows (images x masks x seeds). Tolerances are for the mean of a configuration's rows:

- The spread is measured by running the same suite, same seeds, under *variant environments* that imitate other
  machines on one box (oneDNN/ATen/MKL limited to AVX2, one thread, both; see ``VARIANTS``), optionally for extra
  seeds; on a GPU by repeating the run (CUDA backward passes are not deterministic). For every variant ``v`` and
  seed ``s`` the deviation ``d = mean_v,s - mean_ref,s`` of the configuration's mean is exactly the quantity
  ``check`` computes on another machine, so the ``d`` are samples of the check statistic when nothing changed.
- ``tolerance = max(K_RMS * rms(d), K_MAX * max|d|, floor)``: three root-mean-square deviations (a Gaussian
  statistic passes 99.7 % of the time), never less than 1.5 times the largest deviation seen, and never below a
  floor. The floor (``FLOOR``: 1e-9 dB, 1e-12 SSIM) absorbs float64 rounding of the metrics (about 1e-14) and is
  far below the smallest real change (one grey level of one pixel at 128 px moves PSNR by about 1e-7 dB), so the
  deterministic classical methods keep a tolerance that catches any change of their output, also when a library
  update is what changed it.
- A check on a subset of a configuration's rows (``--only-present``) scales the tolerance by sqrt(n / m) (rows
  treated as independent).
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
FLOOR = {"psnr": 1e-9, "ssim": 1e-12}
K_RMS, K_MAX = 3.0, 1.5
TOLERANCE_RULE = (f"tol = max({K_RMS} * rms(d), {K_MAX} * max|d|, floor {{psnr: 1e-9 dB, ssim: 1e-12}}), d = "
                  "deviation of a configuration's per-seed mean in each spread run from the reference run's")
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

def config_means(table: pd.DataFrame, seeds: list[int] | None = None) -> pd.DataFrame:
    """Mean of ``JUDGED`` per configuration (and seed when ``seeds`` is given, else over all seeds) over ok rows;
    column ``n`` counts the rows."""
    ok = table[table["status"] == "ok"]
    if seeds is not None:
        ok = ok[ok["seed"].isin(seeds)]
    keys = CONFIG + (["seed"] if seeds is not None else [])
    grouped = ok.groupby(keys, sort=False)
    return grouped[list(JUDGED)].mean().join(grouped.size().rename("n")).reset_index()


def tolerance(deviations: list[float], metric: str) -> float:
    """``max(K_RMS * rms(d), K_MAX * max|d|, FLOOR[metric])`` (see the module docstring); no deviations -> floor."""
    d = np.asarray([value for value in deviations if math.isfinite(value)], dtype=float)
    if not len(d):
        return FLOOR[metric]
    return float(max(K_RMS * math.sqrt(float(np.mean(d ** 2))), K_MAX * float(np.max(np.abs(d))), FLOOR[metric]))


def measure_tolerances(default: pd.DataFrame, variants: dict[str, pd.DataFrame],
                       reference_seeds: list[int]) -> list[dict[str, Any]]:
    """Per configuration of ``default`` (the reference environment's run): its row count ``n`` (over
    ``reference_seeds``), the deviations ``d`` of its per-seed mean in every variant run, and the tolerance of each
    judged metric. Runs are normalised tables (``normalised``)."""
    base = config_means(default, sorted(set(default["seed"])))
    counted = config_means(default, reference_seeds)
    deviations: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for name, table in variants.items():
        other = config_means(table, sorted(set(table["seed"])))
        joined = base.merge(other, on=CONFIG + ["seed"], suffixes=("", "_v"))
        for _, row in joined.iterrows():
            if row["n"] != row["n_v"]:
                continue  # a row failed in one run only: not a deviation of the same mean
            deviations.setdefault(tuple(row[CONFIG]), []).append(
                {"variant": name, "seed": int(row["seed"]), **{m: float(row[f"{m}_v"] - row[m]) for m in JUDGED}})
    counts = {tuple(row[CONFIG]): int(row["n"]) for _, row in counted.iterrows()}
    configs = default[default["seed"].isin(reference_seeds)][CONFIG].drop_duplicates()
    entries = []
    for key in configs.itertuples(index=False):
        samples = deviations.get(tuple(key), [])
        entries.append({
            **dict(zip(CONFIG, key)), "n": counts.get(tuple(key), 0),
            **{f"tol_{m}": tolerance([s[m] for s in samples], m) for m in JUDGED},
            **{f"rms_{m}": float(np.sqrt(np.mean([s[m] ** 2 for s in samples]))) if samples else 0.0
               for m in JUDGED},
            **{f"max_{m}": float(np.max(np.abs([s[m] for s in samples]))) if samples else 0.0 for m in JUDGED},
            "deviations": samples,
        })
    return entries


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
    columns = ROW + [c for c in EXACT if c in table.columns]
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
    variants = {}
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
        "tolerances": measure_tolerances(table, variants, seeds) if variants else [],
    }
    write_reference(Path(out), table[table["seed"].isin(seeds)], written)
    return written
