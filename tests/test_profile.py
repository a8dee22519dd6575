"""``dip-bench profile`` on CPU at 64 px with a few iterations: JSON keys, trace, --compare table, user errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dip_bench.bench import profiler
from dip_bench.bench.cli import main

FAST = ["profile", "--device", "cpu", "--size", "64", "--iters", "3", "--warmup", "1"]
KEYS = ("ms_per_iter_median", "ms_per_iter_iqr", "ms_per_iter_min", "iters_per_s", "gflop_per_iter", "tflops",
        "peak_memory_mb", "split_ms")


def test_profile_writes_json_and_trace(tmp_path, capsys):
    out, trace = tmp_path / "profile.json", tmp_path / "trace.json"
    assert main([*FAST, "--json", str(out), "--trace", str(trace)]) == 0
    record = json.loads(out.read_text())
    assert all(key in record for key in KEYS)
    assert record["ms_per_iter_median"] > 0
    assert record["ms_per_iter_min"] <= record["ms_per_iter_median"]
    assert set(record["split_ms"]) == {"forward", "backward", "optimizer"}
    assert all(value > 0 for value in record["split_ms"].values())
    assert len(record["ms_per_iter_all"]) == 3
    assert record["gflop_per_iter"] == pytest.approx(771.8 / 64, rel=1e-3)  # FLOPs scale with the pixel count
    for key in ("date", "device_name", "python", "cpu", "torch"):
        assert key in record["environment"]
    assert record["settings"]["size"] == 64
    events = json.loads(trace.read_text())["traceEvents"]
    assert any(event.get("name") == "dip-bench/backward" for event in events)
    assert "ms/iter" in capsys.readouterr().out


def test_compare_has_fp32_row_and_says_what_was_left_out(tmp_path, capsys):
    out = tmp_path / "compare.json"
    assert main([*FAST, "--compare", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    options = [record["option"] for record in payload["options"]]
    assert options == ["fp32", "bf16", "channels_last"]
    assert set(payload["left_out"]) == {"tf32", "compile"}
    table = profiler.compare_table(payload["options"])
    fp32 = table[table["option"] == "fp32"].iloc[0]
    assert fp32["speed-up vs fp32"] == pytest.approx(1.0)
    assert np.isfinite(table["PSNR dB"]).all()
    printed = capsys.readouterr().out
    assert "fp32" in printed and "left out tf32" in printed


@pytest.mark.parametrize("argv, message", [
    (["--method", "dip-nope"], "unknown method"),
    (["--method", "telea"], "classical method"),
    (["--size", "32"], "is below the 64 px"),
    (["--cuda-graphs"], "not implemented yet"),
    (["--iters", "0"], "--iters"),
    (["--compare", "--precision", "bf16"], "--compare"),
])
def test_bad_flags_exit_2_with_one_line(argv, message, capsys):
    assert main([*FAST, *argv]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_exits_2(capsys):
    assert main(["profile", "--device", "cuda", "--size", "64"]) == 2
    assert "--device cuda" in capsys.readouterr().err


def test_labelled_step_is_the_engine_step():
    """The split window runs FitStep's phases: from the same seed both give identical weights."""
    image, mask = profiler.synthetic_pair(64, seed=3)
    settings = profiler.ProfileSettings(size=64, device="cpu", seed=5)
    _, engine = profiler.build_step(settings, image, mask)
    _, split = profiler.build_step(settings, image, mask)
    device = torch.device("cpu")
    for _ in range(2):
        engine()
        profiler.labelled_step(split, device)
    for a, b in zip(engine.net.parameters(), split.net.parameters()):
        assert torch.equal(a, b)


def test_flop_count_matches_reference_at_512():
    """REFERENCE.md: the text-preset net at 512 x 512 is 771.8 GFLOP per iteration (counted on meta tensors)."""
    image, mask = profiler.synthetic_pair(512, seed=0)
    inpainter, step = profiler.build_step(profiler.ProfileSettings(size=512, device="cpu"), image, mask)
    assert profiler.count_flops(inpainter, step) / 1e9 == pytest.approx(771.8, abs=0.05)


def test_synthetic_pair_conventions():
    image, mask = profiler.synthetic_pair(96, seed=1)
    assert image.shape == (96, 96, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert mask.dtype == bool and 0.02 < 1 - mask.mean() < 0.2  # True = known; a few % holes
    assert np.array_equal(profiler.synthetic_pair(96, seed=1)[1], mask)
