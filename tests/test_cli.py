"""The command line: methods table, inpaint end to end, one-line errors with exit code 2."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dip_bench.bench.cli import main
from dip_bench.bench.registry import METHODS, create, get_method


def save(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def pair(tmp_path: Path, smooth_image, hole_mask) -> tuple[Path, Path]:
    image = save(tmp_path / "img.png", (smooth_image * 255).round().astype(np.uint8))
    mask = save(tmp_path / "img_mask.png", np.where(hole_mask, 255, 0).astype(np.uint8))
    return image, mask


def test_methods_json_lists_every_method(capsys):
    assert main(["methods", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in table] == list(METHODS)
    edgeconnect = next(row for row in table if row["name"] == "edgeconnect")
    assert "weights" in edgeconnect["available"] or edgeconnect["available"] == "yes"


def test_inpaint_end_to_end(pair, tmp_path: Path, capsys):
    image, mask = pair
    out = tmp_path / "out.png"
    code = main(["inpaint", str(image), str(mask), "--method", "dip-skip", "--preset", "region", "--iters", "5",
                 "--device", "cpu", "--out", str(out), "--reference", str(image)])
    assert code == 0
    assert "PSNR" in capsys.readouterr().out
    result = np.asarray(Image.open(out))
    original = np.asarray(Image.open(image))
    known = np.asarray(Image.open(mask)) == 255
    assert result.shape == original.shape
    assert np.array_equal(result[known], original[known])


@pytest.mark.parametrize("argv, message", [
    (["--method", "dip-skip", "--preset", "text"], "needs at least 64x64"),
    (["--method", "telea", "--preset", "text"], "--preset: method 'telea' has no preset parameter"),
    (["--method", "dip-skp"], "did you mean dip-skip"),
])
def test_user_errors_are_one_line_exit_2(tmp_path: Path, argv, message, capsys):
    small = np.zeros((40, 40, 3), np.uint8)
    mask = np.full((40, 40), 255, np.uint8)
    mask[5:10, 5:10] = 0
    image_path, mask_path = save(tmp_path / "a.png", small), save(tmp_path / "a_mask.png", mask)
    code = main(["inpaint", str(image_path), str(mask_path), "--out", str(tmp_path / "o.png"), "--iters", "1", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_edgeconnect_without_weights_exits_2(pair, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("DIP_BENCH_EDGECONNECT_WEIGHTS", raising=False)
    image, mask = pair
    code = main(["inpaint", str(image), str(mask), "--method", "edgeconnect", "--out", str(tmp_path / "o.png")])
    assert code == 2
    assert "no EdgeConnect weights (see README for where to get them)" in capsys.readouterr().err


def test_registry_refuses_unknown_parameters():
    with pytest.raises(ValueError, match="has no parameter colour"):
        create("telea", colour=1)
    assert get_method("dip-skip").family == "dip"


def _bad_inputs(tmp: Path, good_image: Path, good_mask: Path) -> dict[str, tuple[Path, Path, str]]:
    """name → (image, mask, text the one-line error must contain)."""
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 3] = 128
    not_png = tmp / "notes.png"
    not_png.write_text("not an image")
    truncated = tmp / "trunc.png"
    truncated.write_bytes(good_image.read_bytes()[:200])
    small_mask = save(tmp / "small_mask.png", np.full((32, 32), 255, np.uint8))
    colour_mask = np.zeros((64, 64, 3), np.uint8)
    colour_mask[..., 0] = 255
    return {
        "missing": (tmp / "nope.png", good_mask, "nope.png"),
        "not an image": (not_png, good_mask, "notes.png"),
        "truncated": (truncated, good_mask, "trunc.png"),
        "transparent alpha": (save(tmp / "rgba.png", rgba), good_mask, "rgba.png"),
        "size mismatch": (good_image, small_mask, "small_mask.png"),
        "coloured mask": (good_image, save(tmp / "colour_mask.png", colour_mask), "colour_mask.png"),
        "full mask": (good_image, save(tmp / "full_mask.png", np.full((64, 64), 255, np.uint8)), "full_mask.png"),
        "empty mask": (good_image, save(tmp / "empty_mask.png", np.zeros((64, 64), np.uint8)), "empty_mask.png"),
    }


@pytest.mark.parametrize("case", ["missing", "not an image", "truncated", "transparent alpha", "size mismatch",
                                  "coloured mask", "full mask", "empty mask"])
def test_bad_files_are_one_line_exit_2(pair, tmp_path: Path, case: str, capsys):
    image, mask, text = _bad_inputs(tmp_path, *pair)[case]
    code = main(["inpaint", str(image), str(mask), "--method", "telea", "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert text in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()
