"""Stored references for ``dip-bench check``: the table, its fingerprint, and tolerances from *measured* spread.

A reference is two files side by side: ``NAME.csv`` (one line per row of a suite: its configuration ``method``,
``preset``, ``params``, its ``image``, ``mask``, ``seed``, the status, every result column at full precision and the
SHA-256 of the row's output PNG) and ``NAME.meta.json`` (suite, the environment fingerprint of the run it holds, the
commit and command that made it, and per configuration the tolerances and the deviations they were measured from).

A *configuration* is a method with one parameter set (``method``, ``preset``, ``params``); the suite may give it
several rows (images x masks x seeds). The check judges the deviations of a configuration's rows:

- The spread is measured by running the same suite, same seeds, K times: in this environment and in *variant
  environments* that imitate other machines on one box (oneDNN/ATen/MKL limited to AVX2, one thread, both; see
  ``VARIANTS``), optionally for extra seeds; on a GPU by repeating the run (CUDA backward passes are not
  deterministic). A DIP fit is chaotic: after a few steps each run is an independent draw, and a short fit on a
  large hole may settle in another basin (one row moved 4 dB between two environments of the quick suite).
- Each row's *centre* (``psnr_center``, ``ssim_center`` in the CSV) is its mean over the K runs; the statistical
  check takes each row's deviation from its centre and judges two statistics of them per configuration: their
  **mean**, and their **trimmed mean** (``TRIM``: a quarter left out at each end; the plain mean below 4 rows), which
  an odd basin cannot drag. Both must stay within their tolerance.
- Their standard errors come from the K runs' residuals around the centres, pooled over the configuration's rows
  (scaled from variance (1 - 1/K) to (1 + 1/K), since another machine's draw is compared with a K-run centre):
  ``se = sd / sqrt(n)`` for the mean and Yuen's winsorized ``se = sd_w / ((1 - 2g/n) sqrt(n))`` for the mean
  trimmed by g rows at each end.
- ``tolerance = max(K_SE * se, K_MAX * worst, floor)``: three standard errors (a Gaussian statistic passes 99.7 % of
  the time), never less than 1.5 times ``worst``, the largest statistic seen when each run is checked against the
  centre of the others, never below a floor. The floor (``FLOOR``: 1e-9 dB, 1e-12 SSIM) absorbs float64 rounding of
  the metrics (about 1e-14) and is far below the smallest real change (one grey level of one pixel at 128 px moves
  PSNR by about 1e-7 dB), so the deterministic classical methods keep a tolerance that catches any change of their
  output, also when a library update is what changed it.
- ``detect = min over the two statistics of (tolerance + 2 se)``: the *detection threshold*, the smallest shift of
  all of a configuration's rows that the cross-machine check catches with probability >= 97.7 %.
- A check on m of a configuration's n rows (``--only-present``) scales the tolerances by sqrt(n / m).

Size (over 400 lines): the reference's file format and the tolerance arithmetic that writes it belong
together (the check reads the same fields back, ``bench.check``).
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

from dip_bench.bench.atomic import write_bytes, write_text
from dip_bench.bench.meta import git_state
from dip_bench.bench.results import BROKEN, META, RunFolder, method_label, preset_text, row_id
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
#: the trimmed mean leaves out this share of a configuration's row deviations at each end
TRIM = 0.25
TOLERANCE_RULE = (f"per configuration, of the rows' deviations from their centres (means over K runs), for the mean "
                  f"and the {TRIM:.0%}-trimmed mean: tol = max({K_SE} * se, {K_MAX} * worst leave-one-run-out "
                  "statistic, floor {psnr: 1e-9 dB, ssim: 1e-12}); se from the pooled residuals (winsorized for the "
                  f"trimmed mean); detect = min(tol + {K_DETECT} * se) (caught with probability >= 97.7 %)")
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
    return method_label(method, preset) + "".join(f" {k}={v}" for k, v in others.items())


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
    table["preset"] = preset_text(table["preset"])
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
    table = RunFolder(run_dir).results()
    outputs = []
    for _, row in table.iterrows():
        relative = row.get("output") if isinstance(row.get("output"), str) and row.get("output") else \
            f"outputs/{row_id(row.to_dict())}.png"
        outputs.append(file_sha256(Path(run_dir) / relative) if row["status"] == "ok" else None)
    return table.assign(output_sha256=outputs)


def require_run(run_dir: Path) -> None:
    """A ``UserError`` unless ``run_dir`` is a run folder."""
    if not RunFolder(run_dir).is_run_folder():
        raise UserError(f"{run_dir}: not a run folder; run `dip-bench run --out {run_dir}` first")


def run_meta(run_dir: Path) -> dict[str, Any]:
    """A run's ``meta.json`` (``RunFolder.meta``: ``{}`` when missing)."""
    return RunFolder(run_dir).meta()


# ---------------------------------------------------------------------------------------------------- tolerance maths

def _of(table: pd.DataFrame, key: tuple[str, ...]) -> pd.Series:
    """The rows of ``table`` that belong to configuration ``key``."""
    return np.logical_and.reduce([table[column] == value for column, value in zip(CONFIG, key)])


def trim_count(n: int) -> int:
    """How many of n values the trimmed mean leaves out at each end: ``int(TRIM * n)`` (0 below 4 values)."""
    return int(TRIM * n)


def trimmed_mean(values: np.ndarray) -> float:
    """The mean of the middle values (``trim_count`` of the lowest and of the highest left out); NaN for none."""
    ordered = np.sort(np.asarray(values, dtype=float))
    g = trim_count(len(ordered))
    return float(ordered[g:len(ordered) - g].mean()) if len(ordered) else math.nan


def _winsorized_sd(values: np.ndarray, g: int) -> float:
    """Standard deviation after setting the g lowest values to the next one up and the g highest to the next one
    down (Yuen's winsorized variance, the spread that goes with a mean trimmed by g)."""
    ordered = np.sort(values)
    if g:
        ordered = np.clip(ordered, ordered[g], ordered[len(ordered) - g - 1])
    return float(ordered.std(ddof=1)) if len(ordered) > 1 else 0.0


def row_centers(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per row (``ROW``): ``<metric>_center``, the mean over the runs where it finished ok, and ``runs``, their
    count."""
    frames = [table[table["status"] == "ok"][ROW + list(JUDGED)] for table in runs.values()]
    grouped = pd.concat(frames, ignore_index=True).groupby(ROW, sort=False)
    centers = grouped[list(JUDGED)].mean().rename(columns=dict(zip(JUDGED, CENTER)))
    return centers.join(grouped.size().rename("runs")).reset_index()


def _matrix(runs: dict[str, pd.DataFrame], key: tuple[str, ...], metric: str, seeds: list[int] | None) -> np.ndarray:
    """Runs x rows: ``metric`` of the configuration's rows that finished ok in every run (of ``seeds``; None: all)."""
    columns = []
    for table in runs.values():
        mine = table[_of(table, key) & (table["status"] == "ok")]
        if seeds is not None:
            mine = mine[mine["seed"].isin(seeds)]
        columns.append(mine.set_index(["image", "mask", "seed"])[metric].rename(len(columns)))
    return pd.concat(columns, axis=1, join="inner").to_numpy(float).T


def spread(runs: dict[str, pd.DataFrame], key: tuple[str, ...], metric: str,
           reference_seeds: list[int]) -> dict[str, float]:
    """The spread of one configuration's ``metric`` over K runs (see the module docstring): per-row ``sd``, and per
    statistic (plain mean ``se``/``tol``, trimmed mean ``se_trimmed``/``tol_trimmed``) the standard error of the
    check statistic and its tolerance; ``detect``, the smaller of the two detection thresholds."""
    every, judged = _matrix(runs, key, metric, None), _matrix(runs, key, metric, reference_seeds)
    k, n = judged.shape
    if k < 2 or not n:
        floor = FLOOR[metric]
        return {"sd": 0.0, "se": 0.0, "tol": floor, "se_trimmed": 0.0, "tol_trimmed": floor, "detect": floor}
    # draws of (another machine's value - the centre of K runs): residuals scaled from variance (1 - 1/K) to (1 + 1/K)
    residuals = ((every - every.mean(axis=0)) * math.sqrt((k + 1) / (k - 1))).ravel()
    sd = float(np.sqrt(np.mean((every - every.mean(axis=0)) ** 2) * k / (k - 1)))
    g = trim_count(n)
    se = {"": float(np.sqrt(np.mean(residuals ** 2) / n)),
          "_trimmed": _winsorized_sd(residuals, g * k * every.shape[1] // n) / ((1 - 2 * g / n) * math.sqrt(n))}
    # leave-one-run-out: each run checked against the centre of the others, as another machine would be
    others = [judged[i] - np.delete(judged, i, axis=0).mean(axis=0) for i in range(k)]
    worst = {"": max(abs(float(d.mean())) for d in others), "_trimmed": max(abs(trimmed_mean(d)) for d in others)}
    result = {"sd": sd}
    for suffix in ("", "_trimmed"):
        result[f"se{suffix}"] = se[suffix]
        result[f"tol{suffix}"] = max(K_SE * se[suffix], K_MAX * worst[suffix], FLOOR[metric])
    result["detect"] = min(result["tol"] + K_DETECT * result["se"],
                           result["tol_trimmed"] + K_DETECT * result["se_trimmed"])
    return result


def measure_tolerances(default: pd.DataFrame, variants: dict[str, pd.DataFrame],
                       reference_seeds: list[int]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Per configuration of ``default`` (the reference environment's run): its row count ``n`` over
    ``reference_seeds``, the number of runs ``runs``, ``spread`` of each judged metric (keys ``<field>_<metric>``,
    e.g. ``tol_psnr``, ``tol_psnr_trimmed``, ``detect_psnr``), and each variant's deviation of the configuration's
    mean from the default run's (``deviations``, per seed). Also returns the row centres (``row_centers``). Runs
    are normalised tables (``normalised``)."""
    runs = {"reference": default, **variants}
    counted = default[default["seed"].isin(reference_seeds)]
    entries = []
    for key in counted[CONFIG].drop_duplicates().itertuples(index=False):
        key = tuple(key)
        mine = counted[_of(counted, key) & (counted["status"] == "ok")]
        entry: dict[str, Any] = {**dict(zip(CONFIG, key)), "n": len(mine), "runs": len(runs)}
        for metric in JUDGED:
            for field, value in spread(runs, key, metric, reference_seeds).items():
                name = field.split("_")
                entry["_".join([name[0], metric, *name[1:]])] = value
        samples = []
        for name, table in variants.items():
            theirs = table[_of(table, key) & (table["status"] == "ok")].merge(mine, on=ROW, suffixes=("", "_ref"))
            for seed, group in theirs.groupby("seed"):
                if len(group) == int((mine["seed"] == seed).sum()):  # a row failed in one run only: not comparable
                    samples.append({"variant": name, "seed": int(seed),
                                    **{m: float((group[m] - group[f"{m}_ref"]).mean()) for m in JUDGED}})
        entry["deviations"] = samples
        entries.append(entry)
    return entries, row_centers(runs)


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
        names = [f"tol_{m}" for m in JUDGED] + [f"tol_{m}_trimmed" for m in JUDGED if f"tol_{m}_trimmed" in entry]
        for name in names:
            value = entry.get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise UserError(f"{where}: tolerance {name} of {config_label(*key)} is {value!r}; a tolerance "
                                "is a finite number >= 0 (remake the reference with `dip-bench reference`)")


def updatable_reference(path: Path | None, run_dir: Path) -> Path:
    """The reference file ``check --update`` may write for ``run_dir``: given explicitly, a ``.csv`` file (not a
    folder), and not a reference of another suite; else a ``UserError`` naming the fix."""
    if path is None:
        raise UserError("--update: give the reference to write with --reference FILE.csv; the shipped reference is "
                        "replaced only when named on purpose (`dip-bench reference` remakes it with measured "
                        "tolerances)")
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--reference {path}: is a folder; --update writes a reference file such as "
                        f"{path / 'NAME.csv'} (with NAME.meta.json beside it)")
    if path.suffix != ".csv":
        raise UserError(f"--reference {path}: --update writes a CSV reference; give a name ending in .csv")
    require_run(run_dir)
    suite = run_meta(run_dir).get("suite")
    meta_file = meta_path(path)
    if meta_file.is_file():
        try:
            old = json.loads(meta_file.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            old = None
        if not isinstance(old, dict):
            raise UserError(f"{meta_file}: not a readable reference's metadata; move it away or give another "
                            "--reference to write")
        if old.get("suite") != suite:
            raise UserError(f"--reference {path}: a reference of suite {old.get('suite')!r}, but {run_dir} ran suite "
                            f"{suite!r}; give another --reference file for that suite")
    elif path.exists():
        raise UserError(f"--reference {path}: exists but has no {meta_file.name}, so it is not a reference this "
                        "command wrote; give another --reference file")
    return path


def back_up_reference(path: Path) -> Path | None:
    """Copy the reference ``path`` and its ``.meta.json`` (those that exist) to ``backups/<date-time>/`` beside them;
    the backup folder, or None when there is nothing to back up."""
    files = [file for file in (Path(path), meta_path(Path(path))) if file.is_file()]
    if not files:
        return None
    backup = Path(path).parent / "backups" / dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    for file in files:
        write_bytes(backup / file.name, file.read_bytes())
    return backup


def write_reference(path: Path, table: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Write ``NAME.csv`` (floats at full precision, so the exact mode sees every bit) and ``NAME.meta.json``."""
    columns = ROW + [c for c in EXACT + CENTER if c in table.columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, table[columns].to_csv(index=False))
    write_text(meta_path(path), json.dumps({"format": FORMAT, **meta}, indent=1, sort_keys=False) + "\n")


def _intact(table: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    """``table``, refused (``UserError`` naming the row) when a row's seal is broken: no reference from such a run."""
    broken = table[table["status"].str.startswith(f"failed: {BROKEN}")]
    if len(broken):
        row = broken.iloc[0]
        raise UserError(f"{run_dir}: row {row_label(row)}: {row['status'].removeprefix('failed: ')}; rerun it with "
                        f"`dip-bench run --resume --out {run_dir}` before making a reference of this run")
    return table


def make_reference(run_dir: Path, spread: list[Path], out: Path, command: str,
                   reference_seeds: list[int] | None = None, extra: dict[str, Any] | None = None,
                   git: tuple[str, bool] | None = None) -> dict[str, Any]:
    """Write the rows of ``run_dir`` (those of ``reference_seeds``; default all) as the reference ``out`` (CSV +
    ``.meta.json``), with tolerances measured from the ``spread`` runs (same suite, other environments or repeats;
    none: a reference for the exact mode only). ``git`` = (commit, dirty) of the code the runs used, taken before
    they started (default: the tree now). Returns the metadata written."""
    meta = run_meta(run_dir)
    table = _intact(normalised(run_table(run_dir), str(run_dir)), run_dir)
    variants: dict[str, pd.DataFrame] = {}
    for other in spread:
        if run_meta(other).get("suite") != meta.get("suite"):
            raise UserError(f"--spread {other}: a run of suite {run_meta(other).get('suite')!r}, not "
                            f"{meta.get('suite')!r}")
        variants[Path(other).name] = _intact(normalised(run_table(other), str(other)), other)
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
