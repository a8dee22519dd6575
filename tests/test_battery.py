"""The same battery for every registered method (a new method is tested for free)."""
from __future__ import annotations

import numpy as np
import pytest

from dip_bench.contract import UserError
from dip_bench.bench.registry import METHODS, create

FAST = {"dip": {"iterations": 2}}
SIZE = {"dip-encdec": 128, "dip-encdec-skip": 128, "dip-encdec-res": 128}


def sample(size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(size + channels)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    image = np.stack([xx, yy, xx * yy][:channels], axis=-1) * 0.8 + 0.1 * rng.random((size, size, channels))
    mask = rng.random((size, size)) > 0.25
    mask[size // 4: size // 2, size // 4: size // 2] = False
    return image.astype(np.float32), mask


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("channels", [3, 1])
def test_method_battery(name: str, channels: int):
    spec = METHODS[name]
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
