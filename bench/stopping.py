"""Scoring the stopping rules of one DIP row (issue 28): the ``stopping`` and ``stopping_saved_s`` columns.

The method's rules (``dip.stopping``) show their chosen iterates to the harness's ``metrics.Monitor``, which scores
each as a row's output is scored (composited, 8-bit; ``metrics.score_as_stored``). Here they are set beside two
references that need no rule:

- ``fixed``: the preset's fixed count, i.e. the row's own result (its ``psnr_hole``/``ssim_hole``);
- ``oracle``: the best hole PSNR along the fit — on the *observed* curve points (every ``every`` iterations) and the
  final output only, so a rule's iterate between two points can beat it (a negative gap).

``stopping`` (JSON, one object per rule): ``iter`` (the chosen iterate), ``stop`` (where the fit would end: the
rule's flag, else the last iteration), ``stopped``, ``psnr_hole``, ``ssim_hole`` (4 decimals), ``gap_db`` (oracle
hole PSNR − the rule's), ``saved_iters`` (iterations run − (stop + 1)). A rule that never scored (a fit shorter than
its start) stops at the fixed count with the fixed count's result. ``stopping_saved_s`` (JSON, a timing column):
seconds saved per rule, ``saved_iters`` × the row's ``seconds_per_iter``.
"""
from __future__ import annotations

import json
import math
from typing import Any

from dip_bench.bench import metrics
from dip_bench.contract import STOP_LABELS

#: the rows of a stopping summary: the two references, then the rules
REFERENCES = ("fixed", "oracle")


def _round(value: float) -> float | None:
    return round(float(value), 4) if math.isfinite(value) else None


def summarise(monitor: metrics.Monitor, row: dict[str, Any], iterations: int) -> dict[str, dict[str, Any]]:
    """Per rule (``REFERENCES`` then each rule the method showed, in ``contract.STOP_LABELS`` order): the fields of
    the module docstring. ``row`` holds the row's scored ``psnr_hole``/``ssim_hole``; ``iterations`` its count.
    Empty when the method showed no curve (not an iterative fit)."""
    if not monitor.curve or iterations < 1:
        return {}
    last = iterations - 1
    fixed = {"iter": last, "stop": last, "stopped": False, "psnr_hole": row["psnr_hole"],
             "ssim_hole": row["ssim_hole"]}
    oracle = fixed
    if monitor.peak is not None:
        index, output = monitor.peak
        point = monitor.curve[index]
        if point["psnr_hole"] > fixed["psnr_hole"]:
            scored = metrics.score_as_stored(monitor.reference, output, monitor.mask)
            oracle = {"iter": int(point["iteration"]), "stop": int(point["iteration"]), "stopped": True,
                      "psnr_hole": scored["psnr_hole"], "ssim_hole": scored["ssim_hole"]}
    rules = {"fixed": fixed, "oracle": oracle}
    for label in STOP_LABELS:
        if label in monitor.stops:
            chosen = monitor.stops[label]
            rules[label] = {key: chosen[key] for key in ("iter", "stop", "stopped", "psnr_hole", "ssim_hole")}
    peak = oracle["psnr_hole"]
    return {label: {**fields, "stop": min(int(fields["stop"]), last), "psnr_hole": _round(fields["psnr_hole"]),
                    "ssim_hole": _round(fields["ssim_hole"]), "gap_db": _round(peak - fields["psnr_hole"]),
                    "saved_iters": last - min(int(fields["stop"]), last)}
            for label, fields in rules.items()}


def columns(summary: dict[str, dict[str, Any]], seconds_per_iter: float) -> dict[str, str]:
    """The row's ``stopping`` and ``stopping_saved_s`` fields (compact sorted JSON; ``""`` without a summary)."""
    if not summary:
        return {"stopping": "", "stopping_saved_s": ""}
    per_iter = seconds_per_iter if isinstance(seconds_per_iter, (int, float)) and math.isfinite(seconds_per_iter) \
        else math.nan
    saved = {label: _round(fields["saved_iters"] * per_iter) for label, fields in summary.items()}
    return {"stopping": json.dumps(summary, sort_keys=True, separators=(",", ":")),
            "stopping_saved_s": json.dumps(saved, sort_keys=True, separators=(",", ":"))}


def parse(text: Any) -> dict[str, dict[str, Any]]:
    """A ``stopping`` field back as a dict ({} when empty or not a JSON object of objects)."""
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        return {}
    return value
