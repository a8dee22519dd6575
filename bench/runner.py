"""Runs suite rows one by one: each row is scored and saved (``rows/<id>.json``, atomically) the moment it finishes,
and a failure in one method becomes that row's status instead of stopping the run.

The harness alone holds the clean image: a method gets private read-only copies of the corrupted image and the mask
(``contract.call_method``), shows its outputs along a fit to a ``metrics.Monitor``, and its output is checked, then
scored exactly as stored (``seal.store_output``)."""
from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from dip_bench.bench import lpips_metric, metrics, stopping
from dip_bench.bench.atomic import DiskFull, write_text
from dip_bench.bench.registry import create, get_method
from dip_bench.bench.results import ROWS, write_row
from dip_bench.bench.seal import save_inputs as seal_inputs
from dip_bench.bench.seal import store_output
from dip_bench.bench.suite import Row
from dip_bench.contract import call_method, composite

#: record entries that have their own column (or are not scalars)
_OWN_COLUMNS = {"iterations", "seconds", "seconds_per_iter", "peak_memory_mb", "device", "curve", "restores",
                "es_iter", "es_psnr", "es_saved_iters"}


def one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


def corrupted(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The method's input: the clean image with the holes set to 0, so no method can see the hidden pixels."""
    return np.where(mask[..., None], image, 0.0).astype(np.float32)


def save_inputs(run_dir: Path, row: Row) -> None:
    """The row's clean image and mask, stored losslessly for its seals, and the masked input for the report
    (``bench.seal.save_inputs``)."""
    seal_inputs(run_dir, row.pair)


def skip_reason(row: Row) -> str | None:
    """Why ``row`` cannot run here (mask without hole, missing library or weights), else None."""
    if row.pair.mask.all():
        return "mask has no hole"
    return get_method(row.method.name).unavailable_reason(**row.method.params)


def row_fields(row: Row, device: str) -> dict[str, Any]:
    """The table fields a row has before it runs: key, id, size, pad, hole ratio, device and parameters."""
    return {**row.key(), "row_id": row.id, "size": row.definition()["size"], "pad": int(row.pair.source.get("pad", 0)),
            "hole_ratio": round(float(1.0 - row.pair.mask.mean()), 6), "device": device,
            "params": json.dumps(dict(row.method.params), sort_keys=True)}


def run_row(row: Row, device: str, run_dir: Path, bar: tqdm | None = None) -> dict[str, Any]:
    """Run, score and save one row; returns its table fields (see ``bench.results.COLUMNS``)."""
    pair = row.pair
    definition = row.definition()
    rid = row.id
    params = dict(row.method.params)
    result = row_fields(row, device)
    curve: list[dict[str, float]] = []
    record: dict[str, Any] = {}
    reason = skip_reason(row)
    if reason is not None:
        result["status"] = f"skipped: {reason}"
    else:
        try:
            method = create(row.method.name, seed=row.seed, device=device, **params)

            def progress(iteration: int, stats: Mapping[str, float]) -> None:
                if bar is not None:
                    bar.update(iteration + 1 - bar.n)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in stats.items()}, refresh=False)

            if bar is not None:
                bar.reset(total=params.get("iterations") or None)
                bar.set_postfix_str("", refresh=False)
            monitor = metrics.Monitor(pair.image, pair.mask, progress)
            output, record = call_method(method, corrupted(pair.image, pair.mask), pair.mask, monitor)
            curve = monitor.curve
            output_file, stored = store_output(run_dir, rid, composite(output, pair.image, pair.mask))
            raw_psnr = metrics.psnr(pair.image, output)
            iterations = int(record.get("iterations", 0))
            best_psnr, best_iter = monitor.best(raw_psnr, iterations)
            result.update(metrics.score(pair.image, stored, pair.mask))
            if lpips_metric.unavailable_reason() is None:
                result["lpips"] = lpips_metric.lpips_distance(pair.image, stored)
            result.update({
                "status": "ok",
                "output": output_file,
                "psnr_raw": raw_psnr,
                "best_psnr": best_psnr,
                "best_iter": best_iter,
                "iterations": iterations,
                "seconds": record.get("seconds", math.nan),
                "seconds_per_iter": record.get("seconds_per_iter", math.nan),
                "peak_memory_mb": record.get("peak_memory_mb", math.nan),
                "device": record.get("device", device),
                "restores": record.get("restores"),
                **{key: record[key] for key in ("es_iter", "es_saved_iters") if key in record},
                **monitor.labelled,
            })
            result.update(stopping.columns(stopping.summarise(monitor, result, iterations),
                                           result["seconds_per_iter"]))
        except (KeyboardInterrupt, DiskFull):  # a full disk stops the run (finished rows kept): --resume
            raise
        except Exception as error:  # noqa: BLE001 - one method's failure must not stop the run
            if isinstance(error, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()
            result["status"] = f"failed: {one_line(error)}"
            write_text(run_dir / "logs" / f"{rid}.txt", traceback.format_exc())
    scalars = {k: v for k, v in record.items() if k not in _OWN_COLUMNS and isinstance(v, (str, int, float, bool))}
    result["record"] = json.dumps(scalars, sort_keys=True) if scalars else ""
    write_row(run_dir, definition, result, curve, scalars)
    return result


def run_rows(rows: list[Row], device: str, run_dir: Path) -> list[dict[str, Any]]:
    """All rows with a bar over rows and a nested bar over iterations. A row that another process writing the same
    folder finished meanwhile (its file appeared after this call started) is not computed again."""
    results = []
    start = time.perf_counter()
    rows_dir = run_dir / ROWS
    present = {path.name for path in rows_dir.glob("*.json")}
    with tqdm(total=len(rows), desc="rows", unit="row", dynamic_ncols=True) as rows_bar, \
            tqdm(desc="iterations", unit="it", leave=False, position=1, dynamic_ncols=True) as it_bar:
        for row in rows:
            rows_bar.update()
            if f"{row.id}.json" not in present and (rows_dir / f"{row.id}.json").exists():
                rows_bar.write(f"{row.id}: finished meanwhile by another run writing {run_dir}")
                continue
            rows_bar.set_postfix_str(f"{row.method.name} {row.pair.image_name}/{row.pair.mask_name} s{row.seed}")
            save_inputs(run_dir, row)
            result = run_row(row, device, run_dir, it_bar)
            results.append(result)
            if result["status"] != "ok":
                rows_bar.write(f"{result['row_id']}: {result['status']}")
    tqdm.write(f"{len(results)} rows in {time.perf_counter() - start:.0f} s")
    return results
