"""One CPU fitting step of each DIP net, and one call of each classical baseline.

DIP: the engine's own step (``DIPInpainter.make_step``, the step ``dip-bench profile`` times) on the built-in
astronaut with the ``text`` mask at 64 and 128 px (a net whose minimum side is larger is skipped at the smaller
size); the ``large-region`` skip net only at 192 px, its minimum. Classical: the whole method call at 256 px on the
built-in ``strokes-20-30`` mask.
"""
from __future__ import annotations

import pytest

from dip_bench.bench.profiler import ProfileSettings, build_step, count_flops, load_profile_pair, min_size
from dip_bench.bench.registry import create, get_method
from dip_bench.datasets import load_builtin_image, load_builtin_mask

DIP_CASES = [
    *[("dip-skip", "text", size) for size in (64, 128)],
    ("dip-skip", "large-region", 192),
    *[(method, None, size) for method in ("dip-encdec", "dip-encdec-skip", "dip-encdec-res", "dip-bicubic")
      for size in (64, 128)],
]
ROUNDS = {64: 15, 128: 8, 192: 8}
CLASSICAL = {"telea": 10, "ns": 10, "biharmonic": 3, "patchmatch": 5}  # name -> rounds
CLASSICAL_SIZE = 256
CLASSICAL_MASK = "strokes-20-30"


@pytest.mark.parametrize("method, preset, size", DIP_CASES,
                         ids=[f"{m}-{p or 'default'}-{s}px" for m, p, s in DIP_CASES])
def test_dip_step(benchmark, method: str, preset: str | None, size: int) -> None:
    settings = ProfileSettings(method=method, preset=preset, size=size, device="cpu")
    smallest = min_size(settings)
    if size < smallest:
        pytest.skip(f"{method} needs at least {smallest} px")
    image, mask, source = load_profile_pair(size)
    inpainter, step = build_step(settings, image, mask)
    benchmark.group = f"DIP step, {size} px"
    benchmark.extra_info.update(image=source, preset=inpainter.preset.name,
                                gflop_per_iter=count_flops(inpainter, step) / 1e9)
    loss = benchmark.pedantic(lambda: float(step()[0]), rounds=ROUNDS[size], warmup_rounds=2, iterations=1)
    assert loss == loss  # finite, not NaN


@pytest.mark.parametrize("name", CLASSICAL)
def test_classical(benchmark, name: str) -> None:
    reason = get_method(name).unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    image = load_builtin_image("astronaut", CLASSICAL_SIZE)
    mask = load_builtin_mask(CLASSICAL_MASK, CLASSICAL_SIZE)
    method = create(name, seed=0, device="cpu")
    benchmark.group = f"classical, {CLASSICAL_SIZE} px, {CLASSICAL_MASK}"
    output, _ = benchmark.pedantic(method, args=(image, mask), rounds=CLASSICAL[name], warmup_rounds=1,
                                   iterations=1)
    assert output.shape == image.shape
