"""The harness end to end on a tiny 64 px suite: rows, resume after kill -9, failures as rows, check, determinism."""
from __future__ import annotations

import json
import shutil
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dip_bench.bench.cli import main
from dip_bench.bench.results import read_results

from conftest import tiny_suite

SUITE = tiny_suite("tiny", ("astronaut", "camera"), ("text", "strokes-20-30"), """
[[methods]]
name = "telea"
[[methods]]
name = "dip-skip"
preset = "region"
iterations = {iterations}
masks = ["text"]
[[methods]]
name = "executor_methods:make_failing"
iterations = 2
images = ["camera"]
masks = ["text"]
""")


def write_suite(tmp_path: Path, iterations: int = 8) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE.format(iterations=iterations))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    out = tmp / "out"
    assert main(["run", "--suite", str(write_suite(tmp)), "--out", str(out)]) == 0
    return out


def test_suite_end_to_end(tiny_run: Path):
    table = read_results(tiny_run)
    assert len(table) == 4 + 2 + 1
    ok = table[table.status == "ok"]
    assert set(ok.method) == {"telea", "dip-skip"}
    assert {"psnr", "ssim", "psnr_hole", "ssim_hole", "psnr_raw", "best_psnr", "seconds_per_iter"} <= set(table)
    assert (ok.psnr > 10).all() and (ok.ssim > 0).all()
    dip = ok[ok.method == "dip-skip"]
    assert (dip.iterations == 8).all() and dip.best_iter.notna().all()
    assert len(list((tiny_run / "outputs").glob("*.png"))) == len(ok)
    meta = json.loads((tiny_run / "meta.json").read_text())
    assert meta["suite"] == "tiny" and meta["device"] == "cpu" and "torch" in meta["versions"]
    assert meta["lpips"] == "ok" or meta["lpips"].startswith("skipped: ")
    assert (tiny_run / "report.md").exists()
    curves = pd.read_csv(tiny_run / "curves.csv")
    assert set(curves.method) == {"dip-skip"}


def test_failing_method_becomes_a_failed_row(tiny_run: Path):
    table = read_results(tiny_run)
    failed = table[table.method == "executor_methods:make_failing"]
    assert len(failed) == 1
    assert failed.status.iloc[0] == "failed: RuntimeError: deliberate failure after 2 iterations"


def test_check_passes_on_identical_and_fails_on_edited_reference(tiny_run: Path, tmp_path: Path, capsys):
    reference = tmp_path / "ref.csv"
    assert main(["check", str(tiny_run), "--reference", str(reference), "--update"]) == 0
    assert main(["check", str(tiny_run), "--reference", str(reference)]) == 0
    edited = pd.read_csv(reference)
    target = edited.index[(edited.method == "telea") & (edited.image == "camera") & (edited["mask"] == "text")][0]
    edited.loc[target, "psnr"] += 1.0
    edited.to_csv(reference, index=False)
    capsys.readouterr()
    assert main(["check", str(tiny_run), "--reference", str(reference)]) == 1
    out = capsys.readouterr().out
    assert "MOVED telea camera/text seed 0: psnr" in out


def test_update_with_spread_writes_row_centres_and_tolerances(tiny_run: Path, tmp_path: Path):
    repeat = tmp_path / "repeat"
    shutil.copytree(tiny_run, repeat)
    reference = tmp_path / "ref.csv"
    assert main(["check", str(tiny_run), "--reference", str(reference), "--update", "--spread", str(repeat)]) == 0
    stored = pd.read_csv(reference)
    ok = stored[stored.status == "ok"]
    assert (ok.psnr_center == ok.psnr).all() and (ok.ssim_center == ok.ssim).all()
    meta = json.loads(reference.with_name("ref.meta.json").read_text())
    assert {entry["runs"] for entry in meta["tolerances"]} == {2}
    assert all(entry["detect_psnr"] >= entry["tol_psnr"] > 0 for entry in meta["tolerances"])
    assert main(["check", str(repeat), "--reference", str(reference)]) == 0


def test_same_suite_twice_gives_identical_psnr(tiny_run: Path, tmp_path: Path):
    out = tmp_path / "again"
    assert main(["run", "--suite", str(write_suite(tmp_path)), "--out", str(out), "--no-report"]) == 0
    first, second = read_results(tiny_run), read_results(out)
    pd.testing.assert_series_equal(first.psnr, second.psnr)
    pd.testing.assert_series_equal(first.psnr_raw, second.psnr_raw)


def test_shards_merge_to_the_whole(tiny_run: Path, tmp_path: Path):
    suite = write_suite(tmp_path)
    for k in (1, 2):
        assert main(["run", "--suite", str(suite), "--out", str(tmp_path / f"s{k}"), "--shard", f"{k}/2",
                     "--no-report"]) == 0
    assert main(["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "merged"),
                 "--no-report"]) == 0
    merged = read_results(tmp_path / "merged")
    assert len(merged) == len(read_results(tiny_run))
    assert main(["check", str(tmp_path / "merged"), "--reference", str(tiny_run / "results.csv")]) == 0


def test_killed_run_resumes_without_recomputing(tmp_path: Path):
    suite = write_suite(tmp_path, iterations=2000)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "dip_bench.bench.cli", "run", "--suite", str(suite), "--out", str(out), "--no-report"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=Path(__file__).resolve().parent)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_results(out)) < 4:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    table = read_results(out)
    assert len(table) == 4 and (table.status == "ok").all()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "outputs").glob("*.png")}
    result = subprocess.run(command[:-1] + ["--resume", "--methods", "telea", "--no-report"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent)
    assert result.returncode == 0, result.stderr
    assert "4 of 4 rows already done" in result.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (out / "outputs").glob("*.png")} == stamps
