"""The same battery for every registered method (a new method is tested for free)."""
from __future__ import annotations

import numpy as np
import pytest

from dip_bench.contract import UserError
from dip_bench.bench.registry import all_methods, create

FAST = {"dip": {"iterations": 2}}
SIZE = {"dip-encdec": 128, "dip-encdec-skip": 128, "dip-encdec-res": 128}


def sample(size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(size + channels)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    image = np.stack([xx, yy, xx * yy][:channels], axis=-1) * 0.8 + 0.1 * rng.random((size, size, channels))
    mask = rng.random((size, size)) > 0.25
    mask[size // 4: size // 2, size // 4: size // 2] = False
    return image.astype(np.float32), mask


@pytest.mark.parametrize("name", list(all_methods()))
@pytest.mark.parametrize("channels", [3, 1])
def test_method_battery(name: str, channels: int):
    spec = all_methods()[name]
    reason = spec.unavailable_reason()
    if reason is not None:
        assert isinstance(reason, str) and reason
        with pytest.raises(UserError):
            create(name)
        pytest.skip(f"{name} unavailable: {reason}")
    image, mask = sample(SIZE.get(name, 64), channels)
    method = create(name, seed=0, **FAST.get(spec.family, {}))
    output, record = method(np.where(mask[..., None], image, 0).astype(np.float32), mask)
    assert output.shape == image.shape and output.dtype == np.float32
    assert np.isfinite(output).all() and output.min() >= 0 and output.max() <= 1
    assert {"iterations", "seconds", "device"} <= set(record)
    if spec.family != "dip":
        assert np.array_equal(output[mask], image[mask]), "known pixels must be returned unchanged"
    with pytest.raises(ValueError):
        method(image, mask[:-1])


@pytest.mark.parametrize("name", list(all_methods()))
def test_hole_pixels_are_never_read(name: str):
    """Changing the hidden pixels changes nothing; odd sizes work; bad inputs are refused."""
    spec = all_methods()[name]
    if spec.unavailable_reason() is not None:
        pytest.skip(f"{name} unavailable: {spec.unavailable_reason()}")
    base = SIZE.get(name, 64)
    h, w = (base + 3, base + 1) if spec.family == "dip" else (67, 61)
    rng = np.random.default_rng(1)
    image = rng.random((h, w, 3), dtype=np.float32)
    mask = rng.random((h, w)) > 0.3
    make = lambda: create(name, seed=0, **FAST.get(spec.family, {}))  # noqa: E731
    first, _ = make()(np.where(mask[..., None], image, 0).astype(np.float32), mask)
    noisy = np.where(mask[..., None], image, rng.random((h, w, 3), dtype=np.float32)).astype(np.float32)
    second, _ = make()(noisy, mask)
    assert first.shape == image.shape and np.array_equal(first, second)
    for bad_image, bad_mask in ((image.astype(np.float64), mask), (image * 255, mask), (image, mask.astype(np.uint8)),
                                (image, np.zeros_like(mask))):
        with pytest.raises(UserError):
            make()(bad_image, bad_mask)
