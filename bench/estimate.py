"""How long will a suite take? An estimate printed before a run, so that it fits a lease or a coffee break.

A DIP row costs its iterations (the preset's, or the suite's ``iterations``) times a per-iteration time, taken from
``dip-bench profile`` measurements in ``reports/perf/*.json`` where one matches (same device type, method, preset,
size, fp32), else from the net's FLOPs (counted by ``bench.profiler.count_flops`` on meta tensors) at an assumed
achieved throughput, never below a fixed per-iteration floor (kernel launches and Python dominate small nets). A
classical row costs its measured CPU time per megapixel (pytest-benchmark, ``reports/perf/README.md``); any other
method an assumed second. Unavailable methods cost nothing (they become ``skipped`` rows). Add start-up and report.

Every assumption is a named constant below and is repeated in the ``how`` text that goes with the number.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

PERF_DIR = Path(__file__).resolve().parents[1] / "reports" / "perf"
#: assumed achieved fp32 throughput of the DIP nets (TFLOP/s): GPU = a stated guess for an H100 (cuDNN fp32
#: convolutions at 20 of its 67 peak TFLOP/s); CPU = 0.1, between the 0.2 measured for the text net at 128 px and the
#: 0.07 of the small encoder-decoders on the 2-core reference machine (reports/perf/README.md)
ASSUMED_TFLOPS = {"cuda": 20.0, "cpu": 0.1}
#: assumed floor of one fitting iteration in seconds (launch-bound small nets on GPU)
FLOOR_S = {"cuda": 0.003, "cpu": 0.0}
#: measured CPU seconds per megapixel of the classical methods (2-core reference machine, 256 px call / 0.0655 MP)
CLASSICAL_S_PER_MP = {"telea": 0.20, "ns": 0.13, "biharmonic": 1.14, "patchmatch": 7.9}
OTHER_S = 1.0
ROW_OVERHEAD_S = 0.1
STARTUP_S, REPORT_S = 20.0, 20.0
COUNT_SIZE = 128
#: a run estimated above this many hours is refused before it starts, unless ``--allow-long``: above the standard
#: suite on a 2-core CPU (about 3,500 h), far below what a mistyped iteration count asks (millions of hours)
LONG_H = 10_000.0


class Estimate(NamedTuple):
    """Estimated wall seconds and how they were estimated (sources and assumptions, one line)."""

    seconds: float
    how: str


def _device_type(device: Any) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def measured_ms(method: str, preset: str, size: int, device: str, perf_dir: Path = PERF_DIR) -> float | None:
    """Median ms per fp32 iteration measured by ``dip-bench profile`` for this configuration, or None."""
    for path in sorted(Path(perf_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if _device_type(record.get("environment", {}).get("device", "")) != device:
            continue
        for option in record.get("options", []):
            if (option.get("method") == method and str(option.get("preset") or "") == preset
                    and option.get("size") == size and option.get("precision") == "fp32"
                    and not option.get("channels_last") and not option.get("compile")):
                return float(option["ms_per_iter_median"])
    return None


@lru_cache(maxsize=None)
def _dip_cost(method: str, params_json: str) -> tuple[int, float, str]:
    """(iterations, GFLOP per iteration per pixel, preset) of one DIP configuration, counted on a square image of
    ``COUNT_SIZE`` px (or the net's minimum size) on CPU: the nets' FLOPs scale with the pixel count (12.06, 48.24 and
    771.8 GFLOP at 64, 128 and 512 px for the text net)."""
    from dip_bench.bench.profiler import count_flops
    from dip_bench.bench.registry import create

    inpainter = create(method, seed=0, device="cpu", **json.loads(params_json))
    size = max(COUNT_SIZE, inpainter.build_net(3).min_size)
    image = np.zeros((size, size, 3), np.float32)
    mask = np.ones((size, size), bool)
    mask[: size // 2] = False
    step = inpainter.make_step(image, mask)
    pixels = step.target.shape[-2] * step.target.shape[-1]
    return int(inpainter.config.iterations), count_flops(inpainter, step) / 1e9 / pixels, str(inpainter.preset.name)


def row_seconds(method: str, params: dict[str, Any], shape: tuple[int, int], device: str,
                perf_dir: Path = PERF_DIR) -> tuple[float, str]:
    """Estimated seconds of one row and where the number comes from (``measured``, ``flops``, ``classical``,
    ``other``, ``unavailable``)."""
    from dip_bench.bench.registry import get_method

    spec = get_method(method)
    if spec.unavailable_reason(**params) is not None:
        return 0.0, "unavailable"
    height, width = shape
    if spec.family == "dip":
        iterations, gflop_per_pixel, preset = _dip_cost(method, json.dumps(params, sort_keys=True))
        gflop = gflop_per_pixel * height * width
        ms = measured_ms(method, preset, width, device, perf_dir) if height == width else None
        if ms is not None:
            return iterations * ms / 1000.0 + ROW_OVERHEAD_S, "measured"
        per_iter = max(gflop / 1e3 / ASSUMED_TFLOPS[device], FLOOR_S[device])
        return iterations * per_iter + ROW_OVERHEAD_S, "flops"
    if method in CLASSICAL_S_PER_MP:
        return CLASSICAL_S_PER_MP[method] * height * width / 1e6 + ROW_OVERHEAD_S, "classical"
    return OTHER_S + ROW_OVERHEAD_S, "other"


def estimate(rows: Iterable[Any], device: Any, perf_dir: Path = PERF_DIR) -> Estimate:
    """Estimated wall time of ``rows`` (``bench.suite.Row``: ``.method.name``, ``.method.params``,
    ``.pair.image``) on ``device`` (``cpu``/``cuda``/a torch device), with start-up and report, and a ``how`` text
    that states the sources and assumptions."""
    device = _device_type(device)
    sources: dict[str, int] = {}
    total = STARTUP_S + REPORT_S
    for row in rows:
        entry = row.method
        seconds, source = row_seconds(entry.name, dict(entry.params), row.pair.image.shape[:2], device, perf_dir)
        sources[source] = sources.get(source, 0) + 1
        total += seconds
    parts = []
    if sources.get("measured"):
        parts.append(f"{sources['measured']} DIP rows from measured ms/iteration (reports/perf)")
    if sources.get("flops"):
        parts.append(f"{sources['flops']} DIP rows FLOP-based, ASSUMING {ASSUMED_TFLOPS[device]:g} TFLOP/s achieved "
                     f"and at least {1000 * FLOOR_S[device]:g} ms per iteration on {device}")
    if sources.get("classical"):
        parts.append(f"{sources['classical']} classical rows from measured CPU s/megapixel")
    if sources.get("other"):
        parts.append(f"{sources['other']} other rows at an assumed {OTHER_S:g} s each")
    if sources.get("unavailable"):
        parts.append(f"{sources['unavailable']} unavailable rows (will be skipped) at 0 s")
    parts.append(f"plus {STARTUP_S + REPORT_S:g} s start-up and report")
    return Estimate(total, "estimate, not a measurement: " + "; ".join(parts))


def costliest(rows: Iterable[Any], device: Any, perf_dir: Path = PERF_DIR) -> tuple[Any, float, float]:
    """``(method entry, its hours, hours of all rows)`` for the ``[[methods]]`` entry whose rows cost the most, as
    ``estimate`` counts them (rows without start-up and report)."""
    device = _device_type(device)
    entries: dict[int, Any] = {}
    hours: dict[int, float] = {}
    for row in rows:
        entry = entries.setdefault(id(row.method), row.method)
        seconds, _ = row_seconds(entry.name, dict(entry.params), row.pair.image.shape[:2], device, perf_dir)
        hours[id(entry)] = hours.get(id(entry), 0.0) + seconds / 3600.0
    worst = max(hours, key=hours.__getitem__)
    return entries[worst], hours[worst], sum(hours.values())


def describe(result: Estimate) -> str:
    """One line for the console: ``estimated 5.8 min (…how…)`` (hours from 2 h up)."""
    minutes = result.seconds / 60.0
    amount = f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60.0:.1f} h"
    return f"estimated {amount} ({result.how})"
