"""The paper suite's definition and the Table 1 protocol on a tiny size."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from dip_bench.bench.cli import main
from dip_bench.bench.suite import expand_rows, load_pairs, load_suite

TINY_TABLE1 = """
name = "tiny-table1"
device = "cpu"
seeds = [0, 1]
[[data]]
source = "builtin"
size = 64
images = ["camera"]
masks = ["pixels50"]
[[methods]]
name = "dip-skip"
preset = "pixels"
iterations = 3
"""


def test_table1_csv_from_a_tiny_run(tmp_path: Path):
    suite = tmp_path / "t1.toml"
    suite.write_text(TINY_TABLE1)
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "run")]) == 0
    table = pd.read_csv(tmp_path / "run" / "table1.csv")
    assert list(table.columns) == ["image", "seed", "psnr", "iterations", "device"]
    assert list(table.seed) == [0, 1] and (table.iterations == 3).all() and (table.device == "cpu").all()
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(table.psnr.round(4)) == list(results.psnr_raw.round(4))
    assert "Table 1 protocol" in (tmp_path / "run" / "report.md").read_text()


def test_paper_suite_covers_the_official_examples(shared_data: Path):
    suite = load_suite("paper")
    pairs = load_pairs(suite, shared_data / "dip-official")
    names = {(pair.image_name, pair.mask_name) for pair in pairs}
    assert {("kate", "file"), ("vase", "file"), ("library", "file"), ("barbara", "pixels50")} <= names
    rows = expand_rows(suite, pairs)
    presets = {(row.pair.image_name, row.method.preset) for row in rows if row.method.name == "dip-skip"}
    assert {("kate", "text"), ("vase", "region"), ("library", "large-region"), ("barbara", "pixels")} <= presets
    barbara = next(pair for pair in pairs if pair.image_name == "barbara")
    assert abs((~barbara.mask).mean() - 0.5) < 0.01
    assert barbara.image.shape[:2] == barbara.mask.shape == (514, 514)  # restoration.ipynb's 1 px reflect pad


def test_table1_net_fits_barbara_at_514_without_padding():
    """The pixels preset's skip net maps 514 x 514 to itself (its concatenations crop), so it fits at 514 as the
    notebook does instead of padding to the next multiple of 32."""
    from dip_bench.dip.inpainter import DIPInpainter, keeps_size

    inpainter = DIPInpainter("skip", preset="pixels")
    assert keeps_size(inpainter.build_net(1), 32, 514, 514)
    assert inpainter.preset.fit_size == "native"
