"""The shipped suites are balanced and fit their budgets (by the estimate); the estimate uses measurements first."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from dip_bench.bench import balance, estimate
from dip_bench.bench.registry import METHODS
from dip_bench.bench.suite import Row, expand_rows, load_pairs, load_suite


@cache
def _rows(name: str) -> tuple[Row, ...]:
    suite = load_suite(name)
    return tuple(expand_rows(suite, load_pairs(suite)))


@pytest.mark.parametrize("name", ["quick", "gpu-quick", "standard"])
def test_shipped_suites_are_balanced(name: str) -> None:
    assert balance.check(_rows(name)) == []


@pytest.mark.parametrize("name", ["quick", "gpu-quick"])
def test_quick_suites_run_every_method_on_every_pair(name: str) -> None:
    rows = _rows(name)
    pairs = {(row.pair.image_name, row.pair.mask_name) for row in rows}
    assert {row.method.name for row in rows} == set(METHODS)
    for method in set(METHODS) - {"dip-skip"}:
        assert {(r.pair.image_name, r.pair.mask_name) for r in rows if r.method.name == method} == pairs, method
    skip = [(r.pair.image_name, r.pair.mask_name) for r in rows if r.method.name == "dip-skip"]
    assert sorted(skip) == sorted(pairs)  # exactly one dip-skip preset per pair


def test_quick_covers_the_mask_families_with_room_for_intervals() -> None:
    rows = _rows("quick")
    masks = {row.pair.mask_name for row in rows}
    assert {"text", "pixels50", "region"} <= masks and any(m.startswith("strokes") for m in masks)
    for mask in masks:
        assert len({r.pair.image_name for r in rows if r.pair.mask_name == mask}) >= 2, mask


def test_budgets_by_estimate() -> None:
    assert estimate.estimate(_rows("gpu-quick"), "cuda").seconds < 8 * 60
    assert estimate.estimate(_rows("quick"), "cpu").seconds < 10 * 60
    gpu_quick = load_suite("gpu-quick")
    assert all("iterations" not in entry.params for entry in gpu_quick.methods)  # full preset iterations


def test_measured_timing_wins_over_flops(tmp_path: Path) -> None:
    record = {"environment": {"device": "cuda"},
              "options": [{"method": "dip-skip", "preset": "text", "size": 256, "precision": "fp32",
                           "channels_last": False, "compile": False, "ms_per_iter_median": 2.0}]}
    (tmp_path / "h100-text-256.json").write_text(json.dumps(record))
    seconds, source = estimate.row_seconds("dip-skip", {"preset": "text", "iterations": 100}, (256, 256), "cuda",
                                           tmp_path)
    assert source == "measured" and seconds == pytest.approx(100 * 0.002 + estimate.ROW_OVERHEAD_S)
    seconds, source = estimate.row_seconds("dip-skip", {"preset": "text", "iterations": 100}, (256, 256), "cpu",
                                           tmp_path)
    assert source == "flops" and seconds > 100 * 0.002
    text = estimate.describe(estimate.estimate(_rows("gpu-quick"), "cuda", tmp_path))
    assert "ASSUMING" in text and "TFLOP/s" in text and "measured ms/iteration" in text
