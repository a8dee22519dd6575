"""The results store of a run folder: one small JSON file per finished row, written atomically, so that nothing
finished is ever lost and any number of writers can share one folder.

Layout of a run folder::

    rows/<row id>.json     one finished row: its definition, result fields, status and reason, curve, record
    results.csv            built from rows/ (``rebuild_tables``): one line per row, columns ``COLUMNS``
    curves.csv             built from rows/: PSNR-vs-iteration of iterative methods, long form (``CURVE_COLUMNS``)
    outputs/<row id>.png   each row's composited output (column ``output`` holds this relative path)
    inputs/                the clean images (lossless) and masks the rows are scored against, and the masked inputs
                           (holes white) for the report (see ``bench.seal``)
    masks/<image>__<kind>.png   masks generated for a user's images (SHA-256 in meta.json)
    meta.json              suite, seeds, versions, device, git commit, date, command line, input checksums
    logs/<row id>.txt      traceback of a failed row
    stale/, damaged/       row files set aside by ``--resume`` (an earlier definition; unreadable), never deleted

A row id is ``<method>__<preset>__<image>__<mask>__s<seed>__<hash>``, where the hash is the first 10 hex digits of
the SHA-256 of the canonical JSON of the row's *definition* (method, every parameter, image and mask names and
content checksums, seed, size, data source incl. ``pad``): the same suite gives the same ids on every machine,
shard and task, and a changed definition gives a new id. Writing a row is an existence-checked, atomic file
replace; reading types every field strictly and reports (one warning line naming the file) any damaged or foreign
file, which is then not counted as done.

Row files of format ``dip-bench-row/2`` are *sealed* (see ``bench.seal``): an ok row stores the SHA-256 of its output
PNG, clean image and mask, and reading a folder verifies them and recomputes the metrics from those files. A row
whose seal does not hold (a replaced or missing file, a hand-edited number) is shown as ``failed: seal broken: ...``
with one warning naming the row and the file; ``--resume`` sets its file aside in ``damaged/`` and reruns it.
Rows of format ``dip-bench-row/1`` (and ok rows written without artifacts) are *unsealed*: read as they are, with
one warning per folder; ``--resume`` reruns them.

``status`` in the tables is ``ok``, ``skipped: reason`` or ``failed: reason`` (in the row file: ``status`` and
``reason`` apart). Metric protocol: ``psnr``/``ssim`` are over the whole *composited* image (inpainting papers);
``psnr_hole``/``ssim_hole`` over the hole only; ``psnr_raw`` is the raw network output over the whole image (DIP
papers, Table 1); ``best_psnr``/``best_iter`` the best PSNR seen along the fit (the oracle a user never has);
``lpips`` only where LPIPS can run offline (see ``bench.lpips_metric``); ``es_*`` the iterate chosen by ES-WMV early
stopping (monitored on every DIP fit); ``stopping`` each stopping rule's stop, hole PSNR/SSIM there, gap to the
oracle peak and iterations saved, as JSON (``bench.stopping``), ``stopping_saved_s`` the seconds saved; ``restores``
how often DIP's divergence guard restored an earlier state; ``record`` the other scalar entries of the method's
record as JSON.

Size (over 400 lines): one format, read and written in one place: row ids, the strict typing of every column
(row files and CSV alike), the seals' check on reading, and ``RunFolder``, the one reader of a folder, share the
column lists above; split candidates are the CSV reader (``read_table``) and the row-file reader (``load_row``).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from dip_bench.bench import seal
from dip_bench.bench.atomic import write_text
from dip_bench.contract import UserError, is_int

FORMAT = "dip-bench-row/2"
#: the format before seals: still read, as unsealed rows
UNSEALED_FORMAT = "dip-bench-row/1"
KEY = ["method", "preset", "image", "mask", "seed"]
INT_COLUMNS = ["seed", "pad", "iterations", "best_iter", "es_iter", "es_saved_iters", "restores"]
FLOAT_COLUMNS = ["hole_ratio", "psnr", "ssim", "psnr_hole", "ssim_hole", "lpips", "psnr_raw", "best_psnr", "es_psnr",
                 "seconds", "seconds_per_iter", "peak_memory_mb"]
STR_COLUMNS = ["row_id", "method", "preset", "image", "mask", "size", "status", "device", "params", "output", "record",
               "stopping", "stopping_saved_s"]
COLUMNS = ["row_id"] + KEY + [
    "size", "pad", "hole_ratio", "status", "psnr", "ssim", "psnr_hole", "ssim_hole", "lpips", "psnr_raw", "best_psnr",
    "best_iter", "es_iter", "es_psnr", "es_saved_iters", "restores", "iterations", "seconds", "seconds_per_iter",
    "peak_memory_mb", "device", "params", "output", "record", "stopping", "stopping_saved_s",
]
#: columns that describe how long a row took, not what it computed (``merge`` ignores them when comparing)
TIMING = ("seconds", "seconds_per_iter", "peak_memory_mb", "device", "record", "stopping_saved_s")
CURVE_COLUMNS = ["row_id"] + KEY + ["iteration", "loss", "psnr", "psnr_hole"]
RESULTS, CURVES, META, ROWS = "results.csv", "curves.csv", "meta.json", "rows"
STATUSES = ("ok", "skipped", "failed")
#: the reason of a row whose seal does not hold starts with this
BROKEN = "seal broken: "
_STATUS = re.compile(r"^(ok|(skipped|failed): .+)$", re.DOTALL)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: the same value gives the same text on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def make_row_id(definition: Mapping[str, Any]) -> str:
    """File-name-safe deterministic id of a row definition (see the module docstring)."""
    params = definition.get("params", {})
    preset = params.get("preset") if isinstance(params.get("preset"), str) and params.get("preset") else "-"
    digest = hashlib.sha256(canonical_json(dict(definition)).encode()).hexdigest()[:10]
    readable = f"{definition['method']}__{preset}__{definition['image']}__{definition['mask']}__s{definition['seed']}"
    return f"{re.sub(r'[^A-Za-z0-9._=-]+', '-', readable)}__{digest}"


def definition_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The definition of a row given only by its table fields (rows written without one, e.g. by tests)."""
    params = row.get("params") or "{}"
    params = json.loads(params) if isinstance(params, str) else dict(params)
    if row.get("preset") and "preset" not in params:
        params["preset"] = row["preset"]
    return {"method": str(row["method"]), "params": params, "image": str(row["image"]), "mask": str(row["mask"]),
            "seed": int(row["seed"]), "size": str(row.get("size", ""))}


def row_id(row: Mapping[str, Any]) -> str:
    """The id of a results row: its ``row_id`` field when it has one, else computed from its fields."""
    stored = row.get("row_id")
    if isinstance(stored, str) and stored:
        return stored
    return make_row_id(definition_of(row))


def status_text(status: str, reason: str) -> str:
    """``("skipped", "no weights")`` -> ``"skipped: no weights"``; ``("ok", "")`` -> ``"ok"``."""
    return status if status == "ok" else f"{status}: {reason}"


def split_status(text: str) -> tuple[str, str]:
    """``"failed: boom"`` -> ``("failed", "boom")``; the inverse of ``status_text``."""
    status, _, reason = str(text).partition(": ")
    return status, reason


# --- writing -------------------------------------------------------------------------------------------------------


def status_kinds(statuses: pd.Series) -> pd.Series:
    """``ok``, ``skipped`` or ``failed`` of each status text of a table (``split_status``)."""
    return statuses.map(lambda text: split_status(text)[0])


def preset_text(presets: pd.Series) -> pd.Series:
    """A table's ``preset`` column as text, ``""`` where none is set (missing, NaN or None)."""
    return presets.astype(object).fillna("").astype(str)


def method_label(method: str, preset: str) -> str:
    """``dip-skip[text]`` when a preset is set, else the method name: how every table and figure names a method."""
    return f"{method}[{preset}]" if preset else str(method)


def write_row(run_dir: Path, definition: Mapping[str, Any], result: Mapping[str, Any],
              curve: list[dict[str, float]] | None = None, record: Mapping[str, Any] | None = None) -> Path:
    """Write one finished row atomically as ``rows/<id>.json`` (replacing the same row written earlier).

    ``result`` holds the table fields (``status`` as ``ok | skipped: reason | failed: reason``); ``curve`` a list
    of ``{iteration, loss, psnr, psnr_hole}``; ``record`` the method's scalar record entries.
    """
    rid = make_row_id(definition)
    status, reason = split_status(result["status"])
    fields = {column: _plain(result.get(column)) for column in COLUMNS if column not in ("row_id", "status")}
    fields["size"] = str(fields["size"]) if fields.get("size") is not None else ""
    fields["pad"] = int(fields.get("pad") or 0)
    seals = seal.seals_for(run_dir, definition, fields.get("output") or "") if status == "ok" else {}
    body = {"format": FORMAT, "row_id": rid, "definition": dict(definition), "status": status, "reason": reason,
            "result": fields, "curve": [{k: _plain(v) for k, v in point.items()} for point in curve or []],
            "record": {k: _plain(v) for k, v in (record or {}).items()}, "seals": seals}
    path = Path(run_dir) / ROWS / f"{rid}.json"
    write_text(path, json.dumps(body, indent=1, sort_keys=True) + "\n")
    return path


def append_row(run_dir: Path, row: Mapping[str, Any], curve: list[dict[str, float]] | None = None) -> Path:
    """Write a row given only by its table fields (its definition is derived from them; see ``definition_of``)."""
    return write_row(run_dir, definition_of(row), row, curve)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python; pandas NA -> None."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


# --- reading -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRow:
    """One valid row file: ``table`` is its line of ``results.csv`` (typed), ``curve`` its curve points, ``seals``
    its sealed files (``bench.seal``; empty: unsealed), ``broken`` why its seal does not hold (then ``status`` is
    ``failed`` with reason ``seal broken: ...``), ``format`` the row file's format."""

    path: Path
    row_id: str
    definition: dict[str, Any]
    status: str
    reason: str
    table: dict[str, Any]
    curve: list[dict[str, float]]
    seals: dict[str, dict[str, str]] = field(default_factory=dict)
    broken: str = ""
    format: str = FORMAT

    @property
    def done(self) -> bool:
        """Finished for good (ok or skipped; a skipped row may still be retried when its reason went away)."""
        return self.status != "failed"

    @property
    def unsealed(self) -> bool:
        """An ok row without seals (format /1, or written without artifacts): its numbers cannot be verified."""
        return self.status == "ok" and not self.seals


class DamagedRow(Exception):
    """A row file that cannot be read as a row of this format (internal: reported as a warning, never raised)."""


def load_row(path: Path) -> StoredRow:
    """Read and type one row file strictly; raises ``DamagedRow`` naming what is wrong."""
    try:
        body = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DamagedRow(f"not readable JSON ({str(error).splitlines()[0][:80]})") from None
    if not isinstance(body, dict) or body.get("format") not in (FORMAT, UNSEALED_FORMAT):
        found = body.get("format") if isinstance(body, dict) else type(body).__name__
        raise DamagedRow(f"not a dip-bench row file (format {found!r}, expected {FORMAT!r})")
    definition, fields = body.get("definition"), body.get("result")
    if not isinstance(definition, dict) or not isinstance(fields, dict):
        raise DamagedRow("no definition or result")
    try:
        rid = make_row_id(definition)
    except (KeyError, TypeError, ValueError):
        raise DamagedRow("definition lacks method, image, mask or seed") from None
    if body.get("row_id") != rid or Path(path).stem != rid:
        raise DamagedRow(f"its id does not match its definition (expected {rid})")
    status, reason = body.get("status"), body.get("reason")
    if status not in STATUSES or not isinstance(reason, str) or (status != "ok") != bool(reason):
        raise DamagedRow(f"status {status!r} / reason {reason!r} is not ok, skipped: reason or failed: reason")
    table = {"row_id": rid, **{column: fields.get(column) for column in COLUMNS if column != "row_id"},
             "status": status_text(status, reason)}
    for column in COLUMNS:
        table[column] = _typed(column, table[column])
    curve = body.get("curve")
    if not isinstance(curve, list) or not all(isinstance(p, dict) and isinstance(p.get("iteration"), int)
                                              for p in curve):
        raise DamagedRow("curve is not a list of {iteration, loss, psnr}")
    return StoredRow(Path(path), rid, definition, status, reason, table,
                     [{"iteration": p["iteration"], "loss": _typed("loss", p.get("loss")),
                       "psnr": _typed("psnr", p.get("psnr")), "psnr_hole": _typed("psnr_hole", p.get("psnr_hole"))}
                      for p in curve],
                     _seals(body) if status == "ok" else {}, "", body["format"])


def _seals(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The ``seals`` of a row file: none for format /1; else empty (unsealed) or one ``{file, sha256}`` for each of
    ``bench.seal.SEALED``."""
    if body["format"] == UNSEALED_FORMAT:
        return {}
    seals = body.get("seals")
    if seals == {}:
        return {}
    if not isinstance(seals, dict) or set(seals) != set(seal.SEALED) or not all(
            isinstance(s, dict) and isinstance(s.get("file"), str) and isinstance(s.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", s["sha256"]) for s in seals.values()):
        raise DamagedRow(f"seals {str(seals)[:80]!r} are not {{file, sha256}} for each of {', '.join(seal.SEALED)}")
    return {what: {"file": s["file"], "sha256": s["sha256"]} for what, s in seals.items()}


def _typed(column: str, value: Any) -> Any:
    """Check one field's type; ints stay ints (None allowed except for seed/pad), floats become float (None -> NaN)."""
    if column in INT_COLUMNS:
        if value is None and column not in ("seed", "pad"):
            return None
        if not is_int(value, 0 if column in ("seed", "pad") else None):
            raise DamagedRow(f"{column} = {value!r} is not an integer")
        return value
    if column in STR_COLUMNS:
        if value is None and column not in KEY and column != "status":
            return ""
        if not isinstance(value, str) or (column in ("method", "image", "mask") and not value):
            raise DamagedRow(f"{column} = {value!r} is not text")
        return value
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DamagedRow(f"{column} = {value!r} is not a number")
    return float(value)


def scan_rows(run_dir: Path, *, warn: bool = True, verify: bool = True
              ) -> tuple[dict[str, StoredRow], list[tuple[Path, str]]]:
    """Valid row files by id, and the damaged or foreign ones with the reason (each warned about when ``warn``).

    With ``verify``, each sealed row is checked (``bench.seal.verify_row``); one whose seal does not hold comes back
    as ``failed: seal broken: <why>`` with its numbers blanked (``broken`` set). Unsealed ok rows are warned about
    once (when ``warn``)."""
    valid: dict[str, StoredRow] = {}
    damaged: list[tuple[Path, str]] = []
    cache: dict[tuple[str, str], Any] = {}
    for path in sorted((Path(run_dir) / ROWS).glob("*.json")):
        try:
            stored = load_row(path)
        except DamagedRow as error:
            damaged.append((path, str(error)))
            if warn:
                warnings.warn(f"{path}: damaged or foreign row file ({error}); not counted as done, "
                              "`dip-bench run --resume` moves it to damaged/ and recomputes the row", stacklevel=2)
            continue
        problem = seal.verify_row(run_dir, stored, cache) if verify and stored.seals else None
        if problem:
            stored = broken_row(stored, problem)
            if warn:
                warnings.warn(f"{path}: row {stored.row_id}: seal broken ({problem}); shown as failed, `dip-bench run "
                              "--resume` moves the row file to damaged/ and recomputes the row", stacklevel=2)
        valid[stored.row_id] = stored
    unsealed = [stored for stored in valid.values() if stored.unsealed]
    if warn and unsealed:
        warnings.warn(unsealed_warning(Path(run_dir), len(unsealed), len(valid)), stacklevel=2)
    return valid, damaged


def unsealed_warning(run_dir: Path, count: int, total: int) -> str:
    """One line about ``count`` unsealed ok rows of ``run_dir``."""
    return (f"{run_dir}: {count} of {total} rows are unsealed (written by an older dip-bench, format "
            f"{UNSEALED_FORMAT}, or without their files): their numbers cannot be verified against their output; "
            f"rerun them with `dip-bench run --resume --out {run_dir}`")


def broken_row(stored: StoredRow, problem: str) -> StoredRow:
    """``stored`` as a failed row whose reason is ``seal broken: <problem>``, its result numbers blanked."""
    reason = f"{BROKEN}{problem}"
    table = {**stored.table, "status": status_text("failed", reason),
             **{column: math.nan for column in FLOAT_COLUMNS if column not in TIMING and column != "hole_ratio"},
             **{column: None for column in INT_COLUMNS if column not in ("seed", "pad")}}
    return replace(stored, status="failed", reason=reason, table=table, broken=problem)


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Typed table in a fixed order: ints ``Int64`` (``seed`` and ``pad`` ``int64``), floats, text ``""`` for none."""
    table = pd.DataFrame(records, columns=COLUMNS)
    table["pad"] = table["pad"].fillna(0)
    dtypes = {c: "float64" for c in FLOAT_COLUMNS} | {c: "Int64" for c in INT_COLUMNS} | {"seed": "int64", "pad": "int64"}
    table = table.astype(dtypes)
    for column in STR_COLUMNS:
        table[column] = table[column].astype(object).where(table[column].notna(), "").astype(str)
    return table.sort_values(KEY + ["row_id"], kind="stable").reset_index(drop=True)


def read_table(path: Path, complete: bool = False) -> pd.DataFrame:
    """A results-shaped CSV (an old run's ``results.csv`` or a stored reference), typed strictly line by line.

    A line cut short, with a garbage value (a seed that is not an integer, a status that is not ``ok | skipped: ..
    | failed: ..``, a metric that is not a number) or with too many fields is left out with one warning naming the
    file and line; empty presets are ``""``. Columns missing from the file are left out of the table, or with
    ``complete`` (an old run's table, which every verb reads as a full table) added empty with one warning.
    """
    path = Path(path)
    bad: list[str] = []

    def too_many(fields: list[str]) -> None:
        bad.append(f"a line with {len(fields)} fields")

    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, engine="python", on_bad_lines=too_many)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not a results table ({str(error).splitlines()[0][:100]})") from None
    missing = [column for column in KEY + ["status"] if column not in raw.columns]
    if missing and (complete or not (missing == ["status"] and len(raw.columns) > len(KEY))):
        raise UserError(f"{path}: not a results table (no column {', '.join(missing)}); give a results.csv written "
                        "by dip-bench")
    known = [column for column in COLUMNS if column in raw.columns]
    records = []
    for number, line in enumerate(raw[known].to_dict(orient="records"), start=2):
        try:
            records.append({column: _parse(column, line[column]) for column in known})
        except DamagedRow as error:
            bad.append(f"line {number} ({error})")
    for problem in bad:
        warnings.warn(f"{path}: {problem} is damaged and left out; re-run that row", stacklevel=2)
    if complete:
        absent = [column for column in COLUMNS if column not in known]
        if absent:
            warnings.warn(f"{path}: no column {', '.join(absent)} (written by an older dip-bench); shown empty",
                          stacklevel=2)
        return _frame(records)
    table = _frame(records)[[c for c in COLUMNS if c in known]] if records else pd.DataFrame(columns=known)
    return table.reset_index(drop=True)


def _parse(column: str, text: str) -> Any:
    """One CSV field by its column's type (see ``_typed``); integral floats such as ``300.0`` are ints."""
    text = text if isinstance(text, str) else ""  # a line cut short: pandas fills the missing fields with NaN
    if column == "status" and not _STATUS.match(text):
        raise DamagedRow(f"status {text!r}")
    if column in STR_COLUMNS:
        return _typed(column, text if text or column == "preset" else None)
    if text in ("", "nan", "NaN"):
        return _typed(column, None)
    try:
        number = float(text)
    except ValueError:
        raise DamagedRow(f"{column} = {text!r} is not a number") from None
    if column in INT_COLUMNS:
        if not number.is_integer():
            raise DamagedRow(f"{column} = {text!r} is not an integer")
        return _typed(column, int(number))
    return number


# --- the run folder ------------------------------------------------------------------------------------------------


class RunFolder:
    """One run folder (layout above), its one owner: it answers "is this a run folder", reads ``meta.json`` once,
    scans ``rows/`` once (``scan_rows``: verified, each problem warned about once) and builds the results table and
    the curves from that one scan. What it read is kept: rows written later are seen by a new ``RunFolder``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._meta: tuple[dict[str, Any], str | None] | None = None
        self._scan: tuple[dict[str, StoredRow], list[tuple[Path, str]]] | None = None
        self._results: pd.DataFrame | None = None

    @classmethod
    def of(cls, folder: RunFolder | Path | str) -> RunFolder:
        """``folder`` itself when it is a ``RunFolder``, else a new one for that path."""
        return folder if isinstance(folder, RunFolder) else cls(folder)

    def has_results(self) -> bool:
        """Whether the folder holds any row file or an old-format ``results.csv``."""
        return any((self.path / ROWS).glob("*.json")) or (self.path / RESULTS).is_file()

    def is_legacy(self) -> bool:
        """A run folder of the first format: ``results.csv`` without ``rows/``."""
        return (self.path / RESULTS).is_file() and not (self.path / ROWS).is_dir()

    def is_run_folder(self) -> bool:
        """Whether the folder is a dip-bench run folder: it has a ``meta.json`` or results."""
        return (self.path / META).is_file() or self.has_results()

    def meta_and_problem(self) -> tuple[dict[str, Any], str | None]:
        """``meta.json`` as a dict (``{}`` when unreadable) and what is wrong with it (``missing``, ``not valid JSON
        (...)``, ``not a JSON object``) or None; read once."""
        if self._meta is None:
            path = self.path / META
            try:
                meta = json.loads(path.read_text())
            except FileNotFoundError:
                self._meta = {}, "missing"
            except (OSError, UnicodeDecodeError, ValueError) as error:
                self._meta = {}, f"not valid JSON ({str(error).splitlines()[0]})"
            else:
                self._meta = (meta, None) if isinstance(meta, dict) else ({}, "not a JSON object")
        return self._meta

    def meta(self) -> dict[str, Any]:
        """``meta.json`` (``{}`` when missing); ``UserError`` naming the file when it is damaged."""
        meta, problem = self.meta_and_problem()
        if problem not in (None, "missing"):
            raise UserError(f"{self.path / META}: {problem}; the run's metadata is damaged")
        return meta

    def scan(self) -> tuple[dict[str, StoredRow], list[tuple[Path, str]]]:
        """``scan_rows`` of the folder (verified, warned), done once."""
        if self._scan is None:
            self._scan = scan_rows(self.path)
        return self._scan

    def results(self) -> pd.DataFrame:
        """The complete, typed results table (a copy): built from ``rows/`` (damaged files warned about and left
        out); a folder of the first format (``results.csv`` only) is read from that file, line by line, strictly."""
        if self._results is None:
            self._results = self._legacy_results() if self.is_legacy() else \
                _frame([stored.table for stored in self.scan()[0].values()])
        return self._results.copy()

    def _legacy_results(self) -> pd.DataFrame:
        table = read_table(self.path / RESULTS, complete=True)
        count = int((table["status"] == "ok").sum())
        if count:
            warnings.warn(f"{self.path}: its {count} ok rows are unsealed (a {RESULTS} of an older dip-bench, "
                          f"without {ROWS}/): their numbers cannot be verified against their output; run the suite "
                          "again into a new --out to have sealed rows", stacklevel=3)
        return table

    def curves(self) -> pd.DataFrame:
        """The curves in long form (``CURVE_COLUMNS``), built from ``rows/`` (or the old ``curves.csv``): from the
        folder's scan when it was done, else from a quick unverified one."""
        if self.is_legacy():
            path = self.path / CURVES
            return pd.read_csv(path, keep_default_na=False, na_values=["", "nan"]) if path.exists() \
                else pd.DataFrame(columns=CURVE_COLUMNS)
        valid = self._scan[0] if self._scan is not None else scan_rows(self.path, warn=False, verify=False)[0]
        points = [{"row_id": s.row_id, **{k: s.table[k] for k in KEY}, **p} for s in valid.values() for p in s.curve]
        curves = pd.DataFrame(points, columns=CURVE_COLUMNS)
        return curves.astype({"seed": "int64", "iteration": "int64", "loss": "float64", "psnr": "float64",
                              "psnr_hole": "float64"})

    def rebuild_tables(self) -> pd.DataFrame:
        """Write ``results.csv`` and ``curves.csv`` from the row files (atomically); return the table."""
        table = self.results()
        if not self.is_legacy():
            _write_csv(self.path / RESULTS, table)
            _write_csv(self.path / CURVES, self.curves())
        return table


def has_results(run_dir: Path) -> bool:
    """``RunFolder.has_results``."""
    return RunFolder(run_dir).has_results()


def is_legacy(run_dir: Path) -> bool:
    """``RunFolder.is_legacy``."""
    return RunFolder(run_dir).is_legacy()


def read_results(run_dir: Path) -> pd.DataFrame:
    """``RunFolder.results`` of a fresh read of ``run_dir``."""
    return RunFolder(run_dir).results()


def read_curves(run_dir: Path) -> pd.DataFrame:
    """``RunFolder.curves`` of a fresh read of ``run_dir`` (quick: unverified, no warnings)."""
    return RunFolder(run_dir).curves()


# --- tables --------------------------------------------------------------------------------------------------------


def rebuild_tables(run_dir: Path) -> pd.DataFrame:
    """``RunFolder.rebuild_tables`` of a fresh read of ``run_dir``."""
    return RunFolder(run_dir).rebuild_tables()


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6g")
    write_text(path, buffer.getvalue())
