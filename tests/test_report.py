"""The report of a small synthetic run folder: files written, paired numbers right, statuses counted, errors clear;
and the paired statistics, the balance check and the hole zoom on their own."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dip_bench.bench import balance
from dip_bench.bench.cli import report as cmd_report
from dip_bench.bench.atomic import write_png
from dip_bench.bench.report import compare, markdown_table, summary_table, write_report
from dip_bench.bench.report.cells import Cell, Table, mark_best
from dip_bench.bench.report.figures import crop_box
from dip_bench.bench.report.tables import leaderboard
from dip_bench.bench.results import append_row

FIGURES = ("grid", "curves", "quality_cost", "summary")
SKIP_REASON = "skipped: no EdgeConnect weights (see README for where to get them)"
HOLE = {"text": 0.06, "strokes-20-30": 0.25}
IMAGES = ("a", "b", "c")
SIZE = 32


def _hole(mask: str) -> np.ndarray:
    """A square hole (True) of about HOLE[mask] of the image, plus a one-pixel speck far from it."""
    hole = np.zeros((SIZE, SIZE), bool)
    side = int(round(SIZE * HOLE[mask] ** 0.5))
    hole[4:4 + side, 6:6 + side] = True
    hole[-2, -2] = True
    return hole


def _row(method: str, preset: str, image: str, mask: str, rng: np.random.Generator, status: str = "ok",
         seed: int = 0) -> dict:
    iterative = method.startswith("dip")
    seconds = float(rng.uniform(1, 3)) if iterative else float(rng.uniform(0.001, 0.01))
    row = {"method": method, "preset": preset, "image": image, "mask": mask, "seed": seed, "size": f"{SIZE}x{SIZE}",
           "hole_ratio": float(_hole(mask).mean()), "status": status, "device": "cpu", "params": "{}",
           "iterations": 40 if iterative else 0, "seconds": seconds,
           "seconds_per_iter": seconds / 40 if iterative else None}
    if status == "ok":
        row.update(psnr=float(rng.uniform(20, 35)), ssim=float(rng.uniform(0.6, 0.95)),
                   psnr_hole=float(rng.uniform(10, 20)), ssim_hole=float(rng.uniform(0.2, 0.6)),
                   output=f"outputs/{method}-{preset}-{image}-{mask}-{seed}.png")
        if iterative:
            row.update(psnr_raw=float(rng.uniform(18, 25)), best_psnr=float(rng.uniform(25, 27)), best_iter=30)
    elif status.startswith("failed"):
        row.update(psnr=99.0, psnr_hole=99.0)  # must never enter a number
    return row


def _make_run(run_dir: Path, with_dip: bool = True, with_images: bool = True) -> None:
    rng = np.random.default_rng(0)
    methods = [("telea", ""), ("ns", "")] + ([("dip-skip", "text")] if with_dip else [])
    for image in IMAGES:
        clean = rng.uniform(0.1, 0.9, (SIZE, SIZE, 3)).astype(np.float32)
        for mask in HOLE:
            if with_images:
                write_png(run_dir / "inputs" / f"{image}.png", clean)
                write_png(run_dir / "inputs" / f"{image}__{mask}.png", np.where(_hole(mask)[..., None], 1.0, clean))
            for method, preset in methods:
                row = _row(method, preset, image, mask, rng)
                curve = ([{"iteration": i, "loss": 0.001, "psnr": 15 + i / 4} for i in range(0, 40, 10)]
                         if method.startswith("dip") else None)
                append_row(run_dir, row, curve)
                if with_images:
                    write_png(run_dir / row["output"], rng.uniform(0, 1, (SIZE, SIZE, 3)))
    append_row(run_dir, _row("edgeconnect", "", "a", "text", rng, status=SKIP_REASON))
    append_row(run_dir, _row("telea", "", "a", "text", rng, status="failed: RuntimeError: boom", seed=1))
    (run_dir / "meta.json").write_text(json.dumps({
        "suite": "synthetic", "seeds": [0, 1], "device": "cpu (test)", "git_commit": "abc1234",
        "date": "2025-01-01T00:00:00", "command": "dip-bench run synthetic --out x",
        "versions": {"torch": "2.x", "numpy": "2.x"}}))


def _ok(run_dir: Path) -> pd.DataFrame:
    from dip_bench.bench.report import load_run

    results = load_run(run_dir)[0]
    return results[results["status"] == "ok"]


def test_report_files_paired_numbers_and_sections(tmp_path: Path) -> None:
    _make_run(tmp_path)
    path = write_report(tmp_path)
    assert path == tmp_path / "report.md"
    html = (tmp_path / "report.html").read_text()
    for name in FIGURES:
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 0, name
        assert len(pd.read_csv(tmp_path / "figures" / f"{name}.csv")) > 0, name
    text = path.read_text()

    ok = _ok(tmp_path)
    text_rows = ok[ok["mask"] == "text"].set_index(["label", "image"])
    best = max(("telea", "ns"), key=lambda m: text_rows.loc[m, "psnr_hole"].mean())
    delta = (text_rows.loc["dip-skip[text]", "psnr_hole"] - text_rows.loc[best, "psnr_hole"]).to_numpy()
    low, high = compare.bootstrap_ci(delta)
    cell = f"{delta.mean():+.2f} [{low:+.2f}, {high:+.2f}]".replace("-", "−")
    assert f"| text | {best} | dip-skip[text] | 3 | {cell}" in text.replace("**", "")
    wins = int((delta >= 0.05).sum())
    assert f"{wins}/{int((abs(delta) < 0.05).sum())}/{int((delta <= -0.05).sum())}" in text
    assert "99.00" not in text and "+99" not in text  # the failed row stays out of every number

    for table in ("leaderboard", "headline", "ranks"):
        tex = (tmp_path / "tables" / f"{table}.tex").read_text()
        assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{" in tex
        assert (tmp_path / "tables" / f"{table}.md").read_text().startswith("**")
    assert "Every comparison is paired" in text
    assert "10·log10(N / N_hole)" in text and "data_range=1" in text
    assert f"`edgeconnect`: {SKIP_REASON}" in text and "failed: RuntimeError: boom" in text
    assert "abc1234" in text and "versions.torch" in text
    assert "20-30 %" in text and "0-10 %" in text  # hole-ratio bins
    assert "<script>" in html and 'class="comparer"' in html and "outputs/dip-skip-text-a-text-0.png" in html
    assert "`dip-skip[text]`: 40 iterations instead of the preset's 6001" in text
    order = [text.index(f"## {title}") for title in ("Leaderboard", "Quality against cost", "Outputs",
                                                      "Paired comparison", "Skipped and failed")]
    assert order == sorted(order)
    board = text[order[0]:order[1]]
    assert "40 / 6001 ✂" in board and "cut to 40 of their presets' 6001 iterations" in board
    assert "**text**" in board and "**strokes-20-30**" in board
    assert html.index('id="leaderboard"') < html.index('id="cost"') < html.index('id="outputs"') \
        < html.index('<details class="section" id="paired"')


def test_unbalanced_run_is_reported_and_n1_has_no_interval(tmp_path: Path) -> None:
    _make_run(tmp_path)
    rng = np.random.default_rng(1)
    append_row(tmp_path, _row("biharmonic", "", "a", "text", rng))
    text = write_report(tmp_path).read_text()
    assert "unbalanced on mask 'text'" in text and "biharmonic on 1 of 3" in text
    assert "(no interval: n = 1)" in text


def test_missing_data_skips_figures_with_reason(tmp_path: Path) -> None:
    _make_run(tmp_path, with_dip=False, with_images=False)
    text = write_report(tmp_path).read_text()
    assert "Figure `curves.png` skipped" in text
    assert "Figure `grid.png` skipped: no inputs/" in text
    assert (tmp_path / "figures" / "quality_cost.png").exists()
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
    assert capsys.readouterr().out.strip().endswith(str(tmp_path / "report.md"))


def test_markdown_table_escapes_pipes() -> None:
    table = pd.DataFrame({"method": ["a|b"], "value": [1.5]})
    assert markdown_table(table) == "| method | value |\n|---|---|\n| a\\|b | 1.5 |"


def test_infinite_psnr_is_counted_not_averaged() -> None:
    ok = pd.DataFrame({"label": ["m", "m", "m"], "mask": ["text"] * 3, "psnr": [30.0, 32.0, np.inf]})
    table, note = summary_table(ok, "psnr", ["label"], "mask", 2)
    assert table.loc[0, "text"] == "31.00 ± 1.41 (+1 inf)" and note == "n = 2 per cell"


def test_bootstrap_interval_is_seeded_and_covers_the_mean() -> None:
    values = np.random.default_rng(3).normal(1.0, 0.5, 40)
    low, high = compare.bootstrap_ci(values)
    assert (low, high) == compare.bootstrap_ci(values)
    assert low < values.mean() < high and high - low < 0.5
    assert np.isnan(compare.bootstrap_ci(np.array([1.0]))[0])


def test_paired_summary_counts_ties_and_infinite_units() -> None:
    deltas = pd.DataFrame({"d_psnr": [1.0, 0.01, -0.5, np.inf], "d_ssim": [0.1, 0.0, -0.1, 0.2]})
    summary = compare.summarise(deltas)
    assert (summary["wins"], summary["ties"], summary["losses"], summary["not_finite"]) == (1, 1, 1, 1)
    assert summary["n"] == 4 and summary["d_psnr"] == pytest.approx(0.17)


def test_mean_ranks_use_complete_units_only() -> None:
    ok = pd.DataFrame({"mask": ["m"] * 5, "label": ["x", "y", "x", "y", "x"], "image": ["a", "a", "b", "b", "c"],
                       "seed": [0] * 5, "psnr_hole": [20.0, 10.0, 10.0, 20.0, 30.0]})
    ranks = compare.mean_ranks(ok).set_index("method")
    assert ranks.loc["x", "mean_rank"] == 1.5 and ranks.loc["y", "n"] == 2


def test_balance_names_the_missing_units() -> None:
    rows = pd.DataFrame({"method": ["a", "a", "b"], "preset": ["", "", ""], "image": ["x", "y", "x"],
                         "mask": ["text"] * 3, "seed": [0, 0, 0]})
    assert balance.check(rows) == ["unbalanced on mask 'text': comparisons there are not all paired; "
                                   "b on 1 of 2 (missing y/s0)"]
    assert balance.check(rows[rows["image"] == "x"]) == []


def test_crop_box_centres_on_the_largest_hole() -> None:
    hole = np.zeros((64, 64), bool)
    hole[40:56, 8:24] = True  # the large hole
    hole[2, 60] = True
    top, bottom, left, right = crop_box(hole)
    assert bottom - top == right - left and 16 <= bottom - top <= 32
    assert top <= 48 < bottom and left <= 16 < right


def test_leaderboard_ranks_by_mean_hole_psnr_with_its_interval(tmp_path: Path) -> None:
    _make_run(tmp_path)
    ok = _ok(tmp_path)
    board = leaderboard(ok)
    for mask, part in board.groupby("mask"):
        rows = ok[ok["mask"] == mask]
        means = rows.groupby("label")["psnr_hole"].mean().sort_values(ascending=False)
        assert list(part["label"]) == list(means.index) and list(part["rank"]) == [1, 2, 3]
        assert part["psnr_hole"].to_numpy() == pytest.approx(means.to_numpy())
        top = rows[rows["label"] == means.index[0]]["psnr_hole"].to_numpy()
        assert (part["low"].iloc[0], part["high"].iloc[0]) == compare.bootstrap_ci(top)
    dip = board[board["label"] == "dip-skip[text]"]
    assert (dip["iterations"] == 40).all() and (dip["preset_iterations"] == 6001).all() and dip["cut"].all()
    assert board.loc[board["label"] == "telea", "preset_iterations"].isna().all()
    write_report(tmp_path)
    text = (tmp_path / "report.md").read_text()
    board_md = text[text.index("## Leaderboard"):text.index("## Quality against cost")]
    for mask in HOLE:  # the leading row of each mask kind: its hole PSNR cell is the column's best (bold)
        first = board[board["mask"] == mask].iloc[0]
        assert f"| 1 | {first.label} | **{first.psnr_hole:.2f} [" in board_md
    assert "By mean hole PSNR the leader is" in board_md and "Caveat:" in board_md


def test_highlight_only_marks_a_best_that_differs() -> None:
    table = Table("", ["mask", "wins", "delta"], [[Cell("m"), Cell("0/0/4", sort=-4), Cell("1.0", sort=1.0)],
                                                  [Cell("m"), Cell("0/0/4", sort=-4), Cell("2.0", sort=2.0)]],
                  group="mask")
    mark_best(table, ["wins", "delta"])
    assert [row[1].best for row in table.rows] == [False, False]
    assert [row[2].best for row in table.rows] == [False, True]


def test_markdown_report_escapes_html_like_the_html_report(tmp_path: Path) -> None:
    _make_run(tmp_path, with_images=False)
    rng = np.random.default_rng(2)
    append_row(tmp_path, _row("ns", "", "b", "text", rng, status="failed: ValueError: <script>alert(1)</script>",
                              seed=1))
    text = write_report(tmp_path).read_text()
    html = (tmp_path / "report.html").read_text()
    for page in (text, html):
        assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for name in ("leaderboard", "headline"):
        assert "<script>" not in (tmp_path / "tables" / f"{name}.md").read_text()


def test_hole_comes_from_the_stored_mask_even_where_the_image_is_white(tmp_path: Path) -> None:
    """The zoom's hole is the run's stored mask, not a diff of two pictures: on a white image the masked input (holes
    white) equals the clean image, and only the mask file knows where the hole is."""
    from dip_bench.bench.report.figures import hole_of
    from dip_bench.bench.seal import mask_file

    white = np.ones((SIZE, SIZE, 3), np.float32)
    hole = _hole("text")
    write_png(tmp_path / "inputs" / "a.png", white)
    write_png(tmp_path / "inputs" / "a__text.png", white)
    assert not hole_of(tmp_path, "a", "text").any()  # a run of the old format: the diff cannot see the hole
    write_png(tmp_path / mask_file("a", "text"), (~hole).astype(np.float32)[..., None])
    np.testing.assert_array_equal(hole_of(tmp_path, "a", "text"), hole)
