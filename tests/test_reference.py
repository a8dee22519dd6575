"""A slice of the quick suite against the stored CPU reference: a change to a model that moves PSNR fails here.

The slice is every classical method on astronaut (all six mask kinds), the four non-official DIP nets and the
official skip net with the `region` preset: the cheap rows (about two minutes on 2 cores). The tolerances are
`dip-bench check`'s defaults (0.05 dB, 0.002 SSIM); two fresh venvs on this machine kind gave identical values.
"""
from __future__ import annotations

from pathlib import Path

from dip_bench.bench.check import compare
from dip_bench.bench.results import read_results, read_table
from dip_bench.bench.runner import run_rows
from dip_bench.bench.suite import expand_rows, load_pairs, load_suite

REFERENCE = Path(__file__).resolve().parents[1] / "reports" / "reference" / "quick-cpu.csv"
EXPENSIVE = {("dip-skip", "text"), ("dip-skip", "pixels")}


def test_quick_suite_slice_matches_the_cpu_reference(tmp_path: Path):
    suite = load_suite("quick")
    rows = [row for row in expand_rows(suite, load_pairs(suite), images=["astronaut"])
            if (row.method.name, row.method.preset) not in EXPENSIVE]
    assert {row.method.name for row in rows} >= {"telea", "ns", "biharmonic", "patchmatch", "dip-skip", "dip-encdec",
                                                 "dip-encdec-skip", "dip-encdec-res", "dip-bicubic"}
    run_rows(rows, "cpu", tmp_path)
    result = compare(read_results(tmp_path), read_table(REFERENCE), only_present=True)
    assert len(result.table) == len(rows)
    assert result.ok, "\n".join(result.problems)
