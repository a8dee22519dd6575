"""The report of a small synthetic run folder: files written, numbers right, skipped rows listed, errors clear."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dip_bench.bench import cmd_report
from dip_bench.bench.atomic import write_png
from dip_bench.bench.report import markdown_table, summary_table, write_report
from dip_bench.bench.results import append_row, read_results, row_id

FIGURES = ("grid", "curves", "psnr_by_mask", "speed")
SKIP_REASON = "skipped: no EdgeConnect weights (see README for where to get them)"
HOLE = {"text": 0.06, "boxes": 0.27}


def _row(method: str, preset: str, image: str, mask: str, seed: int, rng: np.random.Generator,
         status: str = "ok") -> dict:
    iterative = method.startswith("dip")
    seconds = float(rng.uniform(1, 3)) if iterative else float(rng.uniform(0.001, 0.01))
    row = {"method": method, "preset": preset, "image": image, "mask": mask, "seed": seed, "size": 32,
           "hole_ratio": HOLE[mask], "status": status, "device": "cpu", "params": "{}",
           "iterations": 40 if iterative else 0, "seconds": seconds,
           "seconds_per_iter": seconds / 40 if iterative else None, "peak_memory_mb": None}
    if status == "ok":
        row.update(psnr=float(rng.uniform(20, 35)), ssim=float(rng.uniform(0.6, 0.95)),
                   psnr_hole=float(rng.uniform(10, 20)), ssim_hole=float(rng.uniform(0.2, 0.6)))
        if iterative:
            row.update(psnr_raw=float(rng.uniform(18, 25)), best_psnr=float(rng.uniform(25, 27)), best_iter=30)
    elif status.startswith("failed"):
        row.update(psnr=99.0)  # must never enter an average
    return row


def _make_run(run_dir: Path, with_dip: bool = True, with_images: bool = True) -> None:
    rng = np.random.default_rng(0)
    methods = [("telea", "")] + ([("dip-skip", "text")] if with_dip else [])
    for image in ("a", "b"):
        clean = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
        for mask in HOLE:
            known = rng.uniform(0, 1, (32, 32)) > HOLE[mask]
            if with_images:
                write_png(run_dir / "inputs" / f"{image}.png", clean)
                write_png(run_dir / "inputs" / f"{image}__{mask}.png", np.where(known[..., None], clean, 1.0))
            for method, preset in methods:
                row = _row(method, preset, image, mask, 0, rng)
                curve = ([{"iteration": i, "loss": 1.0 / (i + 1), "psnr": 15 + i / 4} for i in range(0, 40, 10)]
                         if method.startswith("dip") else None)
                append_row(run_dir, row, curve)
                if with_images:
                    write_png(run_dir / "outputs" / f"{row_id(row)}.png", rng.uniform(0, 1, (32, 32, 3)))
    append_row(run_dir, _row("edgeconnect", "", "a", "text", 0, rng, status=SKIP_REASON))
    append_row(run_dir, _row("telea", "", "a", "text", 1, rng, status="failed: RuntimeError: boom"))
    (run_dir / "meta.json").write_text(json.dumps({
        "suite": "synthetic", "seeds": [0, 1], "device": "cpu (test)", "git_commit": "abc1234",
        "date": "2025-01-01T00:00:00", "command": "dip-bench run synthetic --out x",
        "versions": {"torch": "2.x", "numpy": "2.x"}}))


def test_report_files_numbers_and_sections(tmp_path: Path) -> None:
    _make_run(tmp_path)
    path = write_report(tmp_path)
    assert path == tmp_path / "report.md"
    assert (tmp_path / "report.html").stat().st_size > 0
    for name in FIGURES:
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 0, name
        assert len(pd.read_csv(tmp_path / "figures" / f"{name}.csv")) > 0, name
    text = path.read_text()

    ok = read_results(tmp_path).query("status == 'ok'")
    telea_text = ok[(ok["method"] == "telea") & (ok["mask"] == "text")]["psnr"]
    assert f"{telea_text.mean():.2f} ± {telea_text.std():.2f}" in text
    dip_hole = ok[(ok["method"] == "dip-skip") & (ok["mask"] == "boxes")]["psnr_hole"]
    assert f"{dip_hole.mean():.2f} ± {dip_hole.std():.2f}" in text
    assert "dip-skip[text]" in text
    assert "99.00" not in text  # the failed row stays out of the averages

    assert "10·log10(N / N_hole)" in text and "data_range=1" in text
    assert f"`edgeconnect`: {SKIP_REASON}" in text
    assert "failed: RuntimeError: boom" in text
    assert "abc1234" in text and "versions.torch" in text and "dip-bench run synthetic --out x" in text
    assert "(0.0, 0.1]" in text and "(0.2, 0.3]" in text
    assert "skipped:" not in text.split("## Skipped and failed")[0].replace(SKIP_REASON, "")


def test_missing_data_skips_figures_with_reason(tmp_path: Path) -> None:
    _make_run(tmp_path, with_dip=False, with_images=False)
    text = write_report(tmp_path).read_text()
    assert "Figure `curves.png` skipped" in text
    assert "Figure `grid.png` skipped: no outputs/ folder" in text
    assert (tmp_path / "figures" / "speed.png").exists()
    assert not (tmp_path / "figures" / "grid.png").exists()


@pytest.mark.parametrize("make", [lambda p: p, lambda p: p / "absent"])
def test_folder_without_results_is_a_value_error(tmp_path: Path, make) -> None:  # noqa: ANN001
    folder = make(tmp_path)
    with pytest.raises(ValueError, match=r"dip-bench run --out .* first") as error:
        write_report(folder)
    assert str(folder) in str(error.value) and "\n" not in str(error.value)


def test_cli_prints_the_report_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _make_run(tmp_path, with_dip=False, with_images=False)
    parser = argparse.ArgumentParser()
    cmd_report.register(parser.add_subparsers())
    args = parser.parse_args(["report", str(tmp_path)])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.md")


def test_markdown_table_escapes_pipes() -> None:
    table = pd.DataFrame({"method": ["a|b"], "value": [1.5]})
    assert markdown_table(table) == "| method | value |\n|---|---|\n| a\\|b | 1.5 |"


def test_infinite_psnr_is_counted_not_averaged() -> None:
    ok = pd.DataFrame({"label": ["m", "m", "m"], "mask": ["text"] * 3, "psnr": [30.0, 32.0, np.inf]})
    table, note = summary_table(ok, "psnr", ["label"], "mask", 2)
    assert table.loc[0, "text"] == "31.00 ± 1.41 (+1 inf)" and note == "n = 2 per cell"
