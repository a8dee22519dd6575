"""Classical baselines: call shape, bit-exact known pixels, the one mask/dtype conversion, equality with the
libraries called directly, seeded PatchMatch, and the errors at the boundary."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.restoration import inpaint_biharmonic

from dip_bench.baselines import biharmonic, opencv, patchmatch
from dip_bench.baselines._oneshot import hole_mask_uint8
from dip_bench.contract import to_uint8

pytestmark = pytest.mark.filterwarnings("error")

FACTORIES = {
    "telea": opencv.make_telea,
    "ns": opencv.make_ns,
    "biharmonic": biharmonic.make,
    "patchmatch": patchmatch.make,
}
needs_patchmatch = pytest.mark.skipif(patchmatch.unavailable_reason() is not None,
                                      reason=str(patchmatch.unavailable_reason()))


def _image(channels: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus texture, float32 size x size x channels in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x + 3 * y)], axis=-1)[..., :channels]
    return np.clip(base + 0.1 * rng.random(base.shape), 0, 1).astype(np.float32)


def _mask(size: int = 64, seed: int = 1) -> np.ndarray:
    """bool size x size, True = known, with a few stroke-like rectangular holes."""
    rng = np.random.default_rng(seed)
    mask = np.ones((size, size), dtype=bool)
    for _ in range(6):
        y, x = rng.integers(0, size - 8, 2)
        h, w = rng.integers(2, 8), rng.integers(6, 20)
        mask[y:y + h, x:x + w] = False
    return mask


def _make(name: str, **params):
    if name == "patchmatch" and patchmatch.unavailable_reason() is not None:
        pytest.skip(patchmatch.unavailable_reason())
    return FACTORIES[name](**params)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", FACTORIES)
def test_smoke_shape_range_known_pixels(name: str, channels: int) -> None:
    image, mask = _image(channels), _mask()
    before = image.copy()
    output, record = _make(name)(image, mask)
    assert output.shape == image.shape and output.dtype == np.float32
    assert 0.0 <= output.min() and output.max() <= 1.0
    np.testing.assert_array_equal(output[mask], image[mask])  # bit-exact
    np.testing.assert_array_equal(image, before)  # input untouched
    assert record["iterations"] == 0 and record["device"] == "cpu" and record["seconds"] >= 0
    assert np.abs(output[~mask] - image[~mask]).mean() < 0.25  # a fill, not garbage


def test_conversions_round_and_mark_holes() -> None:
    values = np.array([0.0, 0.5 / 255, 0.49 / 255, 1.51 / 255, 127.5 / 255, 1.0], dtype=np.float32)
    # float32 inputs are scaled in float64: float32(0.5 / 255) lies just above one half step, so it rounds up
    np.testing.assert_array_equal(to_uint8(values), [0, 1, 0, 2, 128, 255])
    holes = hole_mask_uint8(np.array([[True, False]]))
    assert holes.dtype == np.uint8 and holes.tolist() == [[0, 255]]


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name, flag", [("telea", cv2.INPAINT_TELEA), ("ns", cv2.INPAINT_NS)])
def test_opencv_equals_direct_cv2_call(name: str, flag: int, channels: int) -> None:
    image, mask = _image(channels), _mask()
    output, record = _make(name, radius=5)(image, mask)
    source = np.round(np.where(mask[..., None], image, 0) * 255).astype(np.uint8)  # holes hidden, as documented
    source = source[..., 0] if channels == 1 else source
    direct = cv2.inpaint(source, (~mask).astype(np.uint8), 5, flag).reshape(image.shape)
    np.testing.assert_array_equal(output[~mask], direct[~mask].astype(np.float32) / 255)
    assert record["radius"] == 5


@pytest.mark.parametrize("channels", [3, 1])
def test_biharmonic_equals_direct_skimage_call(channels: int) -> None:
    image, mask = _image(channels), _mask()
    output, _ = biharmonic.make()(image, mask)
    if channels == 3:
        direct = inpaint_biharmonic(image.astype(np.float64), ~mask, channel_axis=-1)
    else:
        direct = inpaint_biharmonic(image[..., 0].astype(np.float64), ~mask)[..., None]
    np.testing.assert_array_equal(output[~mask], np.clip(direct, 0, 1).astype(np.float32)[~mask])


@needs_patchmatch
@pytest.mark.parametrize("channels", [3, 1])
def test_patchmatch_is_deterministic_given_the_seed(channels: int) -> None:
    image, mask = _image(channels), _mask()
    first, record = patchmatch.make(seed=3, patch_size=3)(image, mask)
    _ = patchmatch.make(seed=9, patch_size=3)(image, mask)  # another seed in between must not leak
    second, _ = patchmatch.make(seed=3, patch_size=3)(image, mask)
    np.testing.assert_array_equal(first, second)
    assert record["patch_size"] == 3 and record["seed"] == 3


@needs_patchmatch
def test_patchmatch_gray_uses_the_replicated_image() -> None:
    image, mask = _image(1), _mask()
    import patchmatch as library

    library.set_random_seed(4)
    rgb = np.repeat(np.round(image * 255).astype(np.uint8), 3, axis=2)
    direct = library.inpaint(rgb, (~mask).astype(np.uint8) * 255, patch_size=5)[..., :1]
    output, _ = patchmatch.make(seed=4)(image, mask)
    np.testing.assert_array_equal(output[~mask], direct[~mask].astype(np.float32) / 255)


def test_patchmatch_reports_available_here() -> None:
    reason = patchmatch.unavailable_reason()
    assert reason is None or "patchmatch" in reason


@pytest.mark.parametrize("bad, message", [
    ({"radius": 0}, "radius"),
    ({"radius": 2.5}, "radius"),
])
def test_opencv_rejects_bad_radius(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        opencv.make_telea(**bad)


@needs_patchmatch
def test_patchmatch_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="patch_size"):
        patchmatch.make(patch_size=0)
    with pytest.raises(ValueError, match="seed"):
        patchmatch.make(seed=-1)


@pytest.mark.parametrize("image, mask, message", [
    (_image(3).astype(np.float64), _mask(), "float32"),
    (_image(3)[..., 0], _mask(), "H x W x C"),
    (np.zeros((64, 64, 2), np.float32), _mask(), "C = 1"),
    (_image(3) * 2, _mask(), r"\[0, 1\]"),
    (np.full((64, 64, 3), np.nan, np.float32), _mask(), "finite"),
    (_image(3), _mask().astype(np.uint8), "bool"),
    (_image(3), _mask()[:, :60], "60x64"),
    (_image(3), _mask()[:60], "64x60"),
    (_image(3), np.zeros((64, 64), bool), "no known pixel"),
])
@pytest.mark.parametrize("name", FACTORIES)
def test_bad_inputs_are_value_errors(name: str, image: np.ndarray, mask: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _make(name)(image, mask)
