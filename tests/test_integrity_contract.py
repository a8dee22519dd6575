"""Measurement integrity (issue 27, items 1-3, 8, 9 in part, 11 in test_faithful): hostile methods against the harness.

The methods below are factories named in suites as ``test_integrity_contract:<factory>``. Each test fails on the
harness that handed every method the clean image, shared its input arrays, repaired outputs silently, and scored an
output other than the stored one.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from dip_bench.bench import metrics
from dip_bench.bench.cli import main
from dip_bench.bench.results import read_curves, read_results
from dip_bench.contract import ContractError, call_method, check_output
from dip_bench.datasets import load_builtin_mask, load_image, load_mask

ME = "test_integrity_contract"


def _record() -> dict[str, Any]:
    return {"iterations": 0, "seconds": 0.0, "device": "cpu"}


def make_cheat(*, seed: int = 0, device: str = "cpu") -> Any:
    """Returns the clean image if it can find it anywhere: a keyword argument or an attribute of the observer."""
    def call(image: np.ndarray, mask: np.ndarray, observe: Any = None, **kwargs: Any) -> Any:
        found = [kwargs.get("reference")]
        if observe is not None:
            found += [getattr(observe, name, None) for name in ("reference", "clean", "image", "__self__")]
            found += list(getattr(observe, "__dict__", {}).values())
        arrays = [a for a in found if isinstance(a, np.ndarray) and a.shape == image.shape]
        return (arrays[0] if arrays else image).astype(np.float32), _record()

    return call


def make_editor(*, seed: int = 0, device: str = "cpu", force: bool = False) -> Any:
    """Marks every pixel known in its mask in place (``force``: after switching the write flag back on)."""
    def call(image: np.ndarray, mask: np.ndarray) -> Any:
        if force:
            mask.flags.writeable = True
        mask[:] = True
        return image.copy(), _record()

    return call


def make_bad(*, seed: int = 0, device: str = "cpu", kind: str = "none-record") -> Any:
    """Breaks the output contract in one way (``kind``)."""
    def call(image: np.ndarray, mask: np.ndarray) -> Any:
        good = image.copy()
        return {
            "none-record": (good, None),
            "list": [good, _record()],
            "triple": (good, _record(), 1),
            "shape": (good[:-1], _record()),
            "uint8": ((good * 255).astype(np.uint8), _record()),
            "nan": (np.full_like(good, np.nan), _record()),
            "scale-255": (good * 255, _record()),
            "negative": (good - 0.5, _record()),
        }[kind]

    return call


def make_bad_observer(*, seed: int = 0, device: str = "cpu", kind: str = "shape") -> Any:
    """Shows the observer a wrong output (``shape``) or an unknown label (``label``), then returns a good output."""
    def call(image: np.ndarray, mask: np.ndarray, *, observe: Any = None) -> Any:
        if kind == "shape":
            observe(0, image[:-1], {"loss": 1.0})
        else:
            observe(0, image, {}, "best-psnr")
        return image.copy(), _record()

    return call


def make_tiny_net(*, seed: int = 0, device: str = "cpu") -> Any:
    """A method whose 'net' needs images of at least 128 px (its ``check_size``)."""
    class Method:
        def check_size(self, height: int, width: int) -> None:
            from dip_bench.contract import UserError
            if min(height, width) < 128:
                raise UserError(f"image is {width}x{height} but this net needs at least 128x128")

        def __call__(self, image: np.ndarray, mask: np.ndarray) -> Any:
            return image.copy(), _record()

    return Method()


def run_suite(tmp_path: Path, methods: list[dict[str, Any]], *, size: int = 64) -> tuple[int, Path]:
    lines = ['name = "hostile"', 'device = "cpu"', "seeds = [0]", "[[data]]", 'source = "builtin"', f"size = {size}",
             'images = ["camera"]', 'masks = ["text"]']
    for method in methods:
        lines.append("[[methods]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in method.items()]
    tmp_path.mkdir(parents=True, exist_ok=True)
    suite = tmp_path / "hostile.toml"
    suite.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    return main(["run", "--suite", str(suite), "--out", str(out), "--no-report"]), out


def statuses(out: Path) -> dict[str, str]:
    table = read_results(out)
    return {f"{m} {p}": s for m, p, s in zip(table.method, table.params, table.status)}


def test_no_method_receives_the_clean_image(tmp_path: Path):
    code, out = run_suite(tmp_path, [{"name": f"{ME}:make_cheat"}])
    assert code == 0
    row = read_results(out).iloc[0]
    assert row.status == "ok" and math.isfinite(row.psnr) and row.psnr < 40


def test_an_in_place_edit_fails_its_row_and_never_reaches_the_next(tmp_path: Path):
    code, out = run_suite(tmp_path, [{"name": f"{ME}:make_editor"}, {"name": f"{ME}:make_editor", "force": True},
                                     {"name": "telea"}])
    assert code == 0
    table = read_results(out).set_index("method")
    assert table.loc["telea", "status"] == "ok"
    editors = read_results(out)
    editors = editors[editors.method == f"{ME}:make_editor"].status.tolist()
    assert len(editors) == 2 and all(s.startswith("failed: ContractError: the method") for s in editors), editors
    assert any("read-only" in s for s in editors) and any("changed its input" in s for s in editors)


@pytest.mark.parametrize("kind, reason", [
    ("none-record", "the record is NoneType, not a mapping"),
    ("list", "returned list"),
    ("triple", "of length 3"),
    ("shape", "has shape (63, 64, 1)"),
    ("uint8", "has dtype uint8"),
    ("nan", "NaN/inf"),
    ("scale-255", "outside [0, 1]"),
    ("negative", "outside [0, 1]"),
])
def test_a_broken_output_fails_its_row_and_the_run_goes_on(tmp_path: Path, kind: str, reason: str):
    code, out = run_suite(tmp_path, [{"name": f"{ME}:make_bad", "kind": kind}, {"name": "telea"}])
    assert code == 0
    table = read_results(out).set_index("method")
    bad = table.loc[f"{ME}:make_bad", "status"]
    assert bad.startswith("failed: ContractError: ") and reason in bad, bad
    assert table.loc["telea", "status"] == "ok"
    assert not (out / "outputs").exists() or len(list((out / "outputs").glob("*.png"))) == 1


@pytest.mark.parametrize("kind, reason", [("shape", "observed output at iteration 0 has shape"),
                                          ("label", "observed label 'best-psnr' is unknown")])
def test_a_broken_observation_fails_its_row(tmp_path: Path, kind: str, reason: str):
    code, out = run_suite(tmp_path, [{"name": f"{ME}:make_bad_observer", "kind": kind}])
    status = read_results(out).status.iloc[0]
    assert code == 0 and status.startswith("failed: ContractError: ") and reason in status, status


def test_output_check_accepts_float_rounding_only():
    image = np.full((4, 5, 3), 0.5, np.float32)
    output, record = check_output((image + np.float32(0.5 + 5e-7), {"iterations": 3}), image.shape)
    assert output.max() == 1.0 and output.dtype == np.float32 and record == {"iterations": 3}
    for bad in ((image + 0.5 + 1e-4, {}), (image, {"iterations": -1}), (image, {"iterations": True}),
                (image, {"seconds": "fast"}), (image, {1: 2})):
        with pytest.raises(ContractError):
            check_output(bad, image.shape)


def test_inputs_are_private_read_only_copies():
    image = np.zeros((8, 8, 3), np.float32)
    mask = np.ones((8, 8), bool)
    mask[2:4, 2:4] = False
    seen = {}

    def method(img: np.ndarray, msk: np.ndarray) -> Any:
        seen.update(image=img, mask=msk)
        return img.copy(), _record()

    call_method(method, image, mask)
    assert not seen["image"].flags.writeable and not seen["mask"].flags.writeable
    assert not np.shares_memory(seen["image"], image) and not np.shares_memory(seen["mask"], mask)


def test_rows_are_scored_exactly_as_stored_with_hole_psnr_curves(tmp_path: Path):
    code, out = run_suite(tmp_path, [{"name": "dipbench_example:make", "iterations": 5},
                                     {"name": "dip-skip", "preset": "region", "iterations": 3, "every": 1}])
    assert code == 0
    table = read_results(out)
    clean = load_image(out / "inputs" / "camera.png")
    for row in table.itertuples():
        assert row.status == "ok"
        stored = load_image(out / row.output)
        scores = metrics.score(clean, stored, load_builtin_mask(row.mask, 64))
        assert (row.psnr, row.ssim, row.psnr_hole, row.ssim_hole) == (scores["psnr"], scores["ssim"],
                                                                      scores["psnr_hole"], scores["ssim_hole"])
    curves = read_curves(out)
    dip = curves[curves.method == "dip-skip"]
    assert list(dip.iteration) == [0, 1, 2] and dip.psnr_hole.notna().all() and (dip.psnr_hole < dip.psnr).all()
    example = curves[curves.method == "dipbench_example:make"]
    assert list(example.iteration) == [0, 1, 2, 3, 4] and example.loss.isna().all()


def test_a_net_too_deep_for_the_suites_size_stops_before_the_run(tmp_path: Path, capsys):
    code, out = run_suite(tmp_path, [{"name": "telea"}, {"name": f"{ME}:make_tiny_net"}])
    err = capsys.readouterr().err
    assert code == 2 and "cannot take image camera (64x64)" in err and "needs at least 128x128" in err
    assert not (out / "rows").exists() or not list((out / "rows").glob("*.json"))
    code, _ = run_suite(tmp_path / "b", [{"name": "dip-encdec", "iterations": 2}])
    assert code == 2 and "needs at least 128x128" in capsys.readouterr().err


def _write_png(path: Path, pixels: np.ndarray, orientation: int | None = None) -> Path:
    image = Image.fromarray(pixels)
    if orientation is None:
        image.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(path, exif=exif)
    return path


def test_inpaint_names_the_option_and_the_file(tmp_path: Path, capsys):
    image = _write_png(tmp_path / "small.png", np.full((40, 40, 3), 128, np.uint8))
    mask_pixels = np.full((40, 40), 255, np.uint8)
    mask_pixels[10:20, 10:20] = 0
    mask = _write_png(tmp_path / "mask.png", mask_pixels)
    out = tmp_path / "out.png"
    assert main(["inpaint", str(image), str(mask), "--method", "telea", "--iters", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--iters: method 'telea' has no iterations parameter" in err and "--param" not in err
    assert main(["inpaint", str(image), str(mask), "--method", "dip-skip", "--iters", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{image}: image is 40x40" in err and "needs at least 64x64" in err


def test_inpaint_reference_is_scored_by_the_harness(tmp_path: Path, capsys):
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask_pixels = np.full((64, 64), 255, np.uint8)
    mask_pixels[20:30, 20:40] = 0
    image = _write_png(tmp_path / "clean.png", clean)
    mask = _write_png(tmp_path / "mask.png", mask_pixels)
    out = tmp_path / "out.png"
    assert main(["inpaint", str(image), str(mask), "--method", f"{ME}:make_cheat", "--reference", str(image),
                 "--out", str(out)]) == 0
    line = capsys.readouterr().out
    assert "PSNR inf" not in line and "PSNR" in line
    stored = load_image(out)
    assert not np.array_equal(stored, load_image(image))


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_exif_orientation_is_applied_to_images_and_masks(tmp_path: Path, suffix: str):
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:5, :10] = 255                                    # a bright block at the stored top-left
    path = tmp_path / f"turned.{suffix}"
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6                                         # "rotate 90° clockwise to display"
    image.save(path, exif=exif, **({"quality": 100} if suffix == "jpg" else {}))
    loaded = load_image(path)
    with Image.open(path) as opened:
        shown = np.asarray(ImageOps.exif_transpose(opened))
    assert loaded.shape == (30, 20, 3)
    assert np.array_equal(np.round(loaded * 255).astype(np.uint8), shown)
    assert loaded[:10, -5:].mean() > 0.9 and loaded[-10:, :5].mean() < 0.1
    mask_pixels = np.full((20, 30), 255, np.uint8)
    mask_pixels[:5, :10] = 0
    mask_path = _write_png(tmp_path / "mask.png", mask_pixels, orientation=6)
    mask = load_mask(mask_path)
    assert mask.shape == (30, 20) and not mask[:10, -5:].any() and mask[-10:, :5].all()
