"""Strict input checks: every bad image or mask file gives one clear InputError line naming the file.

All files are made on the fly in tmp_path.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dip_bench.datasets import (
    InputError,
    InputWarning,
    NothingToInpaint,
    check_pair,
    load_image,
    load_mask,
    load_pair,
)

RNG_SEED = 0


def expect_error(call, path: Path, text: str, error: type[Exception] = InputError) -> str:
    """Run ``call``; it must raise ``error`` with a one-line message naming ``path`` and containing ``text``."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and str(path) in message and text in message, message
    return message


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(RNG_SEED).integers(0, 256, (24, 32, 3), dtype=np.uint8)


@pytest.fixture
def known() -> np.ndarray:
    """24 x 32 bool, True = known, with a 6 x 8 hole."""
    mask = np.ones((24, 32), bool)
    mask[5:11, 10:18] = False
    return mask


def save_mask(path: Path, known: np.ndarray) -> Path:
    Image.fromarray(known.astype(np.uint8) * 255).save(path)
    return path


# --- images ------------------------------------------------------------------------------------------------------


def test_inputerror_is_a_valueerror() -> None:
    assert issubclass(InputError, ValueError) and issubclass(NothingToInpaint, InputError)
    assert issubclass(InputWarning, UserWarning)


def test_rgb_png_is_scaled_by_255(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.dtype == np.float32 and image.shape == (24, 32, 3)
    np.testing.assert_array_equal(image, rgb.astype(np.float32) / np.float32(255))


def test_gray_png_has_one_channel(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    image = load_image(tmp_path / "g.png")
    assert image.shape == (24, 32, 1)
    np.testing.assert_array_equal(image[..., 0], rgb[..., 0] / np.float32(255))


def test_16_bit_gray_png_keeps_all_bits(tmp_path: Path) -> None:
    values = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 61 + 1  # odd steps: not multiples of 257
    Image.fromarray(values).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as png:
        assert png.mode.startswith("I")
    image = load_image(tmp_path / "g16.png")
    assert image.shape == (24, 32, 1) and image.dtype == np.float32
    np.testing.assert_allclose(image[..., 0], values / 65535.0, rtol=0, atol=1e-7)
    assert len(np.unique(image)) == values.size  # nothing was cut to 8 bits


def test_16_bit_rgb_png_keeps_all_bits_and_channel_order(tmp_path: Path) -> None:
    values = np.random.default_rng(RNG_SEED).integers(0, 65536, (24, 32, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), values[..., ::-1])  # OpenCV writes BGR
    image = load_image(tmp_path / "c16.png")
    assert image.shape == (24, 32, 3)
    np.testing.assert_allclose(image, values / 65535.0, rtol=0, atol=1e-7)


def test_opaque_alpha_is_dropped(tmp_path: Path, rgb: np.ndarray) -> None:
    rgba = np.dstack([rgb, np.full((24, 32), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    np.testing.assert_array_equal(load_image(tmp_path / "opaque.png"), rgb / np.float32(255))
    Image.fromarray(np.dstack([rgb[..., 0], np.full((24, 32), 255, np.uint8)]), mode="LA").save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png").shape == (24, 32, 1)


def test_transparent_alpha_is_refused(tmp_path: Path, rgb: np.ndarray) -> None:
    alpha = np.full((24, 32), 255, np.uint8)
    alpha[0, :3] = 0
    path = tmp_path / "transparent.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(path)
    expect_error(lambda: load_image(path), path, "3 transparent pixels")


def test_palette_image_is_converted(tmp_path: Path, rgb: np.ndarray) -> None:
    palette = Image.fromarray(rgb).quantize(colors=16)
    palette.save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as png:
        assert png.mode == "P"
    expected = np.asarray(palette.convert("RGB")) / np.float32(255)
    np.testing.assert_array_equal(load_image(tmp_path / "p.png"), expected)


def test_palette_with_transparency_is_refused(tmp_path: Path, rgb: np.ndarray) -> None:
    palette = Image.fromarray(rgb).quantize(colors=16)
    path = tmp_path / "pt.png"
    palette.save(path, transparency=int(np.asarray(palette)[0, 0]))
    expect_error(lambda: load_image(path), path, "transparent")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.png"
    expect_error(lambda: load_image(path), path, "no such file")
    expect_error(lambda: load_mask(path), path, "no such file")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    expect_error(lambda: load_image(tmp_path), tmp_path, "not a file")


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    expect_error(lambda: load_image(path), path, "not a readable image")


def test_truncated_png(tmp_path: Path, rgb: np.ndarray) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(rgb).save(path)
    path.write_bytes(path.read_bytes()[:300])
    expect_error(lambda: load_image(path), path, "not a readable image")
    expect_error(lambda: load_mask(path), path, "not a readable image")


def test_truncated_16_bit_colour_png(tmp_path: Path) -> None:
    path = tmp_path / "cut16.png"
    cv2.imwrite(str(path), np.random.default_rng(RNG_SEED).integers(0, 65536, (24, 32, 3), dtype=np.uint16))
    path.write_bytes(path.read_bytes()[:300])
    expect_error(lambda: load_image(path), path, "not a readable image")


# --- masks -------------------------------------------------------------------------------------------------------


def test_binary_mask_white_is_known(tmp_path: Path, known: np.ndarray) -> None:
    mask = load_mask(save_mask(tmp_path / "m.png", known), strict=True)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, known)


def test_bilevel_palette_and_16_bit_masks(tmp_path: Path, known: np.ndarray) -> None:
    Image.fromarray(known).save(tmp_path / "one_bit.png")  # mode '1'
    Image.fromarray(known.astype(np.uint8) * 255).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(known.astype(np.uint16) * 65535).save(tmp_path / "sixteen.png")
    for name in ("one_bit.png", "palette.png", "sixteen.png"):
        np.testing.assert_array_equal(load_mask(tmp_path / name, strict=True), known)


def test_jpeg_mask_is_thresholded_with_a_warning(tmp_path: Path, known: np.ndarray) -> None:
    path = tmp_path / "m.jpg"
    Image.fromarray(known.astype(np.uint8) * 255).save(path, quality=75)
    with pytest.warns(InputWarning, match=r"pixels were neither 0 nor 255; thresholded at 128") as record:
        mask = load_mask(path)
    assert str(path) in str(record[0].message)
    assert np.mean(mask == known) > 0.97
    expect_error(lambda: load_mask(path, strict=True), path, "neither 0 nor 255")


def test_threshold_is_128(tmp_path: Path) -> None:
    values = np.full((4, 4), 255, np.uint8)
    values[0, 0], values[0, 1] = 127, 128
    path = tmp_path / "grey.png"
    Image.fromarray(values).save(path)
    with pytest.warns(InputWarning, match="2 of 16"):
        mask = load_mask(path)
    assert not mask[0, 0] and mask[0, 1]


def test_rgb_mask_with_equal_channels_is_accepted(tmp_path: Path, known: np.ndarray) -> None:
    Image.fromarray(np.repeat(known.astype(np.uint8)[..., None] * 255, 3, axis=2)).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "rgb.png", strict=True), known)


def test_coloured_mask_is_refused(tmp_path: Path, known: np.ndarray) -> None:
    pixels = np.repeat(known.astype(np.uint8)[..., None] * 255, 3, axis=2)
    pixels[0, 0] = (255, 0, 0)
    path = tmp_path / "red.png"
    Image.fromarray(pixels).save(path)
    expect_error(lambda: load_mask(path), path, "mask has colour (1 pixels")


def test_mask_with_transparency_is_refused(tmp_path: Path, known: np.ndarray) -> None:
    path = tmp_path / "ma.png"
    alpha = np.where(known, 255, 0).astype(np.uint8)
    Image.fromarray(np.dstack([known.astype(np.uint8) * 255, alpha]), mode="LA").save(path)
    expect_error(lambda: load_mask(path), path, "transparent")


def test_full_mask_is_nothing_to_inpaint(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "full.png", np.ones((24, 32), bool))
    expect_error(lambda: load_mask(path), path, "no hole", NothingToInpaint)
    assert load_mask(path, require_hole=False).all()


def test_empty_mask_is_refused_not_skipped(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "empty.png", np.zeros((24, 32), bool))
    message = expect_error(lambda: load_mask(path), path, "no known pixel")
    assert "invert" in message
    with pytest.raises(InputError) as info:
        load_mask(path, require_hole=False)
    assert not isinstance(info.value, NothingToInpaint)


# --- pairs -------------------------------------------------------------------------------------------------------


def test_pair_of_different_sizes_is_refused(tmp_path: Path, rgb: np.ndarray, known: np.ndarray) -> None:
    image_path = tmp_path / "a.png"
    Image.fromarray(rgb).save(image_path)
    mask_path = save_mask(tmp_path / "a_mask.png", known[:20])
    message = expect_error(lambda: load_pair(image_path, mask_path), mask_path, "is 32x20 (WxH)")
    assert str(image_path) in message and "32x24" in message


def test_load_pair_checks_everything(tmp_path: Path, rgb: np.ndarray, known: np.ndarray) -> None:
    image_path = tmp_path / "a.png"
    Image.fromarray(rgb).save(image_path)
    image, mask = load_pair(image_path, save_mask(tmp_path / "a_mask.png", known))
    assert image.shape == (24, 32, 3) and np.array_equal(mask, known)
    full = save_mask(tmp_path / "full_mask.png", np.ones((24, 32), bool))
    expect_error(lambda: load_pair(image_path, full), full, "no hole", NothingToInpaint)


def test_check_pair_refuses_wrong_arrays(known: np.ndarray) -> None:
    image = np.zeros((24, 32, 3), np.float32)
    check_pair(image, known, "a.png", "a_mask.png")
    with pytest.raises(InputError, match="a.png: must be a float32"):
        check_pair(image.astype(np.float64), known, "a.png", "a_mask.png")
    with pytest.raises(InputError, match="a_mask.png: must be a bool"):
        check_pair(image, known.astype(np.uint8), "a.png", "a_mask.png")
    with pytest.raises(InputError, match="a.png: values must be finite and in"):
        check_pair(np.full((24, 32, 3), np.nan, np.float32), known, "a.png", "a_mask.png")
    with pytest.raises(InputError, match="a.png: values must be finite and in"):
        check_pair(np.full((24, 32, 3), 255, np.float32), known, "a.png", "a_mask.png")
    with pytest.raises(InputError, match="a.png: must be H x W x C"):
        check_pair(np.zeros((24, 32), np.float32), known, "a.png", "a_mask.png")


def test_no_warning_for_clean_inputs(tmp_path: Path, rgb: np.ndarray, known: np.ndarray) -> None:
    Image.fromarray(rgb).save(tmp_path / "a.png")
    save_mask(tmp_path / "a_mask.png", known)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_pair(tmp_path / "a.png", tmp_path / "a_mask.png")
